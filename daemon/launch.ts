// The daemon bundle's entry (daemon/bin/wfctld.js loads it): turns on the
// compile cache for the bundle's chunks, then loads main.ts, which runs the
// daemon (proto/compile-cache.ts, launchCached). A daemon runs for hours, so
// it writes its caches a few seconds after it starts: the next daemon on this
// machine (after an idle stop, a restart of the service) starts from them.
import { launchCached } from "../proto/compile-cache.js";

launchCached(import.meta.url, () => import("./main.js"), { failurePrefix: "wfctld: could not start: ", writeAfterMs: 5_000 });
