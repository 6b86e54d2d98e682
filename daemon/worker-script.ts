// Where a worker thread's compiled module is, for the daemon's workers (the
// configuration parser, the state writer): in the daemon's bundle
// (daemon/bundle.mjs), an entry of its own above the chunks, one of which
// holds this code; in the unbundled build (--no-daemon), under dist/daemon/
// beside the module that starts it; when this module runs from its
// TypeScript source (vitest), the compiled one under dist/, which the test
// setup builds first.
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ErrorCode, WfctlError } from "../proto/errors.js";

/**
 * The worker module `path` (relative to daemon/, e.g. "config/parse-worker.js"),
 * whose bundle entry is named after its file (parse-worker.cjs).
 */
export function workerScript(path: string): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".cjs")) return join(dirname(here), "..", `${basename(path, ".js")}.cjs`);
  if (!here.endsWith(".ts")) return join(dirname(here), path);
  const built = join(dirname(here), "..", "dist", "daemon", path);
  if (!existsSync(built)) throw new WfctlError(ErrorCode.INTERNAL, `${built} is not built (run npm run build)`);
  return built;
}
