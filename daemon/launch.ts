// The daemon bundle's entry (daemon/bin/wfctld.js loads it): turns on the
// compile cache for the bundle's chunks (proto/compile-cache.ts), then loads
// main.ts, which runs the daemon. Kept apart from main.ts so that nothing the
// cache serves is loaded before the cache is on. A daemon runs for hours, so
// its caches are written a few seconds after it starts, once it has served
// the request it was started for, not at its exit: the next daemon on this
// machine (after an idle stop, a reboot of the service) starts from them.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { enableCompileCache } from "../proto/compile-cache.js";

/** How long after its start the daemon writes its caches (one pause of some 30 ms, off any request's way if it can). */
const WRITE_AFTER_MS = 5_000;

// In the bundle this is dist/daemon-bundle/wfctld.cjs, above the chunks it caches.
const cache = enableCompileCache(dirname(fileURLToPath(import.meta.url)));
import("./main.js").catch((err: unknown) => {
  process.stderr.write(`wfctld: could not start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
setTimeout(() => cache.write(), WRITE_AFTER_MS).unref();
