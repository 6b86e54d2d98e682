// The rules the type checker cannot enforce (eslint.config.js): no floating
// promise and no promise where a callback's return is ignored. In the daemon a
// rejected promise nobody handles is a crash of every operation on the host,
// so `npm test` fails on any finding, showing eslint's report.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.js";

/** What `npm run lint` checks. */
const LINTED = ["daemon", "client", "proto", "plugins", "test"];

function eslint(): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, "node_modules", "eslint", "bin", "eslint.js"), "--max-warnings", "0", ...LINTED],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 2) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

describe("lint", () => {
  // Type-aware linting of the whole tree takes ~30 s alone, longer beside the other test files.
  it("eslint finds nothing: every promise is awaited, returned or has its rejection handled", { timeout: 240_000 }, async () => {
    const { code, output } = await eslint();
    expect(output.trim(), "eslint findings (run `npm run lint`)").toBe("");
    expect(code).toBe(0);
  });
});
