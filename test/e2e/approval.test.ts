// Approval on a terminal: without --auto-approve, apply and destroy ask on a
// real pseudo-terminal (util-linux `script` provides one) and only "yes"
// proceeds. The non-terminal refusal is covered in quickstart.test.ts.
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox } from "../helpers/cli.js";
import { QUICKSTART } from "../helpers/paths.js";
import { runOnTerminal } from "../helpers/terminal.js";

describe("approval on a terminal", () => {
  const sandbox = cliSandbox("wft-tty-");
  let config: string;
  let env: Record<string, string>;
  const onTerminal = async (args: string[], answer: string) => {
    const { code, stdout } = await runOnTerminal(args, env, "Enter a value:", answer);
    return { code, output: stdout };
  };
  beforeAll(() => {
    env = { WFCTL_SOCKET: sandbox.cli.socket };
    config = join(sandbox.dir, "infra.yaml");
    copyFileSync(join(QUICKSTART, "infra.yaml"), config);
  });

  it("any answer but 'yes' cancels the apply and changes nothing", async () => {
    const { code, output } = await onTerminal(["infra", "apply", "-c", config], "y");
    expect(output).toContain("Do you want to perform these actions?");
    expect(output).toContain("Apply cancelled");
    expect(code).toBe(1);
    expect(existsSync(join(sandbox.dir, "out", "site"))).toBe(false);
  });

  it("'yes' applies the plan that was shown", async () => {
    const { code, output } = await onTerminal(["infra", "apply", "-c", config], "yes");
    expect(output).toContain("Plan: 3 to create");
    expect(output).toContain("Apply complete: 3 created");
    expect(code).toBe(0);
    expect(existsSync(join(sandbox.dir, "out", "site", "index.html"))).toBe(true);
  });

  it("destroy asks too, and 'no' keeps everything", async () => {
    const { code, output } = await onTerminal(["infra", "destroy", "-c", config], "no");
    expect(output).toContain("Do you really want to destroy all these resources?");
    expect(code).toBe(1);
    expect(existsSync(join(sandbox.dir, "out", "site", "index.html"))).toBe(true);
  });
});
