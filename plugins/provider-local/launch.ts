// The local provider bundle's entry (bin/wfctl-provider-local.js loads it).
// Every daemon that uses the provider starts it, so it starts like the daemon
// (daemon/launch.ts): its bundle is CommonJS, its chunks are served from the
// compile cache (proto/compile-cache.ts), and it writes the caches they
// lacked a few seconds after it starts, or as it stops if that is sooner.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { enableCompileCache } from "../../proto/compile-cache.js";

/** How long after its start the plugin writes its caches. */
const WRITE_AFTER_MS = 5_000;

// In the bundle this is dist/daemon-bundle/provider-local/main.cjs, beside the chunks it caches.
const cache = enableCompileCache(dirname(fileURLToPath(import.meta.url)));
import("./main.js").catch((err: unknown) => {
  process.stderr.write(`wfctl-provider-local: could not start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
setTimeout(() => cache.write(), WRITE_AFTER_MS).unref();
