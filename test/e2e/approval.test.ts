// Approval on a terminal: without --auto-approve, apply and destroy ask on a
// real pseudo-terminal (util-linux `script` provides one) and only "yes"
// proceeds. The non-terminal refusal is covered in quickstart.test.ts.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox } from "../helpers/cli.js";
import { QUICKSTART, ROOT, WFCTL } from "../helpers/paths.js";

const hasScript = spawnSync("script", ["--version"], { encoding: "utf8" }).status === 0;
if (!hasScript && process.env["CI"]) {
  throw new Error("the approval tests need util-linux `script` (a pseudo-terminal) and it is not on this machine");
}

/** Runs wfctl on a pseudo-terminal, typing `answer` once the question is on screen. */
function onTerminal(args: string[], env: Record<string, string>, answer: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, WFCTL, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    let answered = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no result within 30 s; output so far:\n${output}`));
    }, 30_000);
    child.stdout.on("data", (c: Buffer) => {
      output += c.toString();
      if (!answered && output.includes("Enter a value:")) {
        answered = true;
        child.stdin.write(`${answer}\n`);
      }
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe.skipIf(!hasScript)("approval on a terminal", () => {
  const sandbox = cliSandbox("wft-tty-");
  let config: string;
  let env: Record<string, string>;
  beforeAll(() => {
    env = { WFCTL_SOCKET: sandbox.cli.socket };
    config = join(sandbox.dir, "infra.yaml");
    copyFileSync(join(QUICKSTART, "infra.yaml"), config);
  });

  it("any answer but 'yes' cancels the apply and changes nothing", async () => {
    const { code, output } = await onTerminal(["infra", "apply", "-c", config], env, "y");
    expect(output).toContain("Do you want to perform these actions?");
    expect(output).toContain("Apply cancelled");
    expect(code).toBe(1);
    expect(existsSync(join(sandbox.dir, "out", "site"))).toBe(false);
  });

  it("'yes' applies the plan that was shown", async () => {
    const { code, output } = await onTerminal(["infra", "apply", "-c", config], env, "yes");
    expect(output).toContain("Plan: 3 to create");
    expect(output).toContain("Apply complete: 3 created");
    expect(code).toBe(0);
    expect(existsSync(join(sandbox.dir, "out", "site", "index.html"))).toBe(true);
  });

  it("destroy asks too, and 'no' keeps everything", async () => {
    const { code, output } = await onTerminal(["infra", "destroy", "-c", config], env, "no");
    expect(output).toContain("Do you really want to destroy all these resources?");
    expect(code).toBe(1);
    expect(existsSync(join(sandbox.dir, "out", "site", "index.html"))).toBe(true);
  });
});
