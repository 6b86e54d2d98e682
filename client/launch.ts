// The bundle's entry (client/bin/wfctl.js loads it): turns on the compile
// cache for the bundle's chunks, then loads and runs the command line. Kept
// apart from main.ts so that nothing the cache serves is loaded before the
// cache is on: it imports only node: modules and compile-cache.ts.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { enableCompileCache } from "../proto/compile-cache.js";

// In the bundle this is dist/bundle/wfctl.cjs, beside the chunks it caches.
enableCompileCache(dirname(fileURLToPath(import.meta.url)));
import("./main.js")
  .then(({ main }) => main())
  .catch((err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
