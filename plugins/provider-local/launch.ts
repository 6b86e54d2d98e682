// The local provider bundle's entry (bin/wfctl-provider-local.js loads it).
// Every daemon that uses the provider starts it, so it starts like the daemon
// (daemon/launch.ts): its bundle is CommonJS, its chunks are served from the
// compile cache (proto/compile-cache.ts, launchCached), and it writes the
// caches they lacked a few seconds after it starts, or as it stops if that is
// sooner.
import { launchCached } from "../../proto/compile-cache.js";

launchCached(import.meta.url, () => import("./main.js"), { failurePrefix: "wfctl-provider-local: could not start: ", writeAfterMs: 5_000 });
