// Paths of the real executables and fixtures the tests run.
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WFCTL = join(ROOT, "client", "bin", "wfctl.js");
export const WFCTLD = join(ROOT, "daemon", "bin", "wfctld.js");
export const LOCAL_PROVIDER = join(ROOT, "plugins", "provider-local", "bin", "wfctl-provider-local.js");
export const FIXTURE_PLUGINS = join(ROOT, "test", "fixtures", "plugins");

/** The one file a cloud plugin is bundled into (plugins/bundle.mjs, run by the global setup): what the daemon runs with node. */
export function cloudPlugin(dir: string): string {
  return join(ROOT, "plugins", dir, "dist", `wfctl-${dir}.mjs`);
}
export const QUICKSTART = join(ROOT, "examples", "quickstart");

/** A fresh temporary directory (short path: Unix sockets live in some) and its cleanup. */
export function tempDir(prefix = "wft-"): { path: string; cleanup: () => void } {
  const path = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** The quickstart's infra.yaml with its state module replaced by `state` (a `  - name: state` module block). */
export function quickstartWithState(state: string): string {
  const original = readFileSync(join(QUICKSTART, "infra.yaml"), "utf8");
  const start = original.indexOf("  - name: state\n");
  const end = original.indexOf("\n\n", start);
  return `${original.slice(0, start)}${state}${original.slice(end + 1)}`;
}
