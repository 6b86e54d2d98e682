// The bundle's entry (client/bin/wfctl.js loads it): turns on the compile
// cache for the bundle's chunks, then loads and runs the command line
// (proto/compile-cache.ts, launchCached). A command writes its caches as it
// exits.
import { launchCached } from "../proto/compile-cache.js";

launchCached(import.meta.url, async () => (await import("./main.js")).main(), { failurePrefix: "Error: " });
