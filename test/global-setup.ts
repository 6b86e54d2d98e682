// Type-checks everything (tests included: strict TypeScript is part of the
// suite), then builds the executables the integration and end-to-end tests
// run (the real wfctl, wfctld and plugin processes run from dist/).
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const tsc = (what: string, args: string[]) => {
    try {
      execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), ...args], { cwd: root, stdio: "pipe" });
    } catch (err) {
      const e = err as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`${what} failed:\n${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`);
    }
  };
  tsc("type-checking (npm run typecheck)", ["-p", join(root, "tsconfig.json"), "--noEmit"]);
  tsc("building wfctl for the tests", ["-p", join(root, "tsconfig.build.json")]);
}
