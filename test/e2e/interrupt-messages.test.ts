// What the first Ctrl-C says, through the real CLI and a warm daemon: a
// command that changes nothing says so (plan, drift, a dry run, following
// logs), only apply says that what was done stays recorded in state, and
// each exits 130 as an interrupted command does. Each command is caught in
// the middle of a provider read (the slowfs fixture holds a read while
// out/.hold-read-<name> exists, and says so with out/.read-held-<name>).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";
import { waitFor } from "../helpers/processes.js";
import { runInBackground, runOnTerminal } from "../helpers/terminal.js";

const CHANGES_LINE = "what was done stays recorded in state";

describe("the first Ctrl-C says what it stops", () => {
  const sandbox = cliSandbox("wft-ctrlc-");
  let projects = 0;

  /** A project of its own (a held read of one command must not meet the next), with one slowfs file applied. */
  async function project(): Promise<{ dir: string; config: string }> {
    const dir = join(sandbox.dir, `p${++projects}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "slowfs-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))};\n`);
    writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./slowfs-plugin.mjs\n    version: 2.0.0\n");
    const config = join(dir, "infra.yaml");
    writeFileSync(config, "modules:\n  - name: files\n    type: iac.provider\n    config: { provider: slowfs, root: out }\n  - name: r\n    type: slowfs.file\n    provider: files\n    config: { path: r.txt, content: x }\n");
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", config]), 0);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    return { dir, config };
  }

  /** Runs `args` in a new project while the provider's read of r is held, and interrupts it once the read is. */
  async function interruptedDuringRead(args: (config: string) => string[]): Promise<CliResult> {
    const { dir, config } = await project();
    writeFileSync(join(dir, "out", ".hold-read-r"), "");
    const command = runInBackground(args(config), { WFCTL_SOCKET: sandbox.cli.socket });
    let exited = false;
    const exit = command.exit.then((code) => ((exited = true), code));
    await waitFor(() => exited || existsSync(join(dir, "out", ".read-held-r")), 30_000, `the read of r during wfctl ${args(config).join(" ")}`);
    command.signal("SIGINT");
    const code = (await exit) ?? -1;
    // Let the read go: a call the client dropped may still run in the daemon (drift), and must not hold up its stop.
    rmSync(join(dir, "out", ".hold-read-r"), { force: true });
    return { code, ...command.output };
  }

  it("plan: stopping the plan; nothing was changed; exit 130", async () => {
    const result = await interruptedDuringRead((config) => ["infra", "plan", "-c", config]);
    expectExit(result, 130);
    expect(result.stderr).toContain("Interrupt received: stopping the plan; nothing was changed. Press Ctrl-C again to quit now.");
    expect(result.stderr).not.toContain(CHANGES_LINE);
  });

  it("drift: stopping drift detection; nothing was changed; exit 130", async () => {
    const result = await interruptedDuringRead((config) => ["infra", "drift", "-c", config]);
    expectExit(result, 130);
    expect(result.stderr).toContain("Interrupt received: stopping drift detection; nothing was changed.\n");
    expect(result.stderr).not.toContain(CHANGES_LINE);
  });

  it("apply --refresh without --auto-approve (a dry run): stopping the dry run; nothing was changed", async () => {
    const result = await interruptedDuringRead((config) => ["infra", "apply", "-c", config, "--refresh"]);
    expectExit(result, 130);
    expect(result.stderr).toContain("Interrupt received: stopping the dry run; nothing was changed.");
    expect(result.stderr).not.toContain(CHANGES_LINE);
  });

  it("apply --auto-approve still says changes in progress are stopped and what was done stays recorded", async () => {
    const result = await interruptedDuringRead((config) => ["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(result, 130);
    expect(result.stderr).toContain(`Interrupt received: cancelling. Changes in progress are stopped; ${CHANGES_LINE}. Press Ctrl-C again to quit now.`);
  });

  it("apply asking for approval on a terminal: Ctrl-C at the question says nothing was changed, as it is, and exits 130", async () => {
    const { config } = await project();
    writeFileSync(config, readFileSync(config, "utf8").replace("content: x", "content: y"));
    const result = await runOnTerminal(["infra", "apply", "-c", config], { WFCTL_SOCKET: sandbox.cli.socket, CI: "" }, "Enter a value:", "\x03");
    expectExit(result, 130);
    expect(result.stdout).toContain("Error: cancelled at the approval prompt: nothing was changed");
    expect(result.stdout).not.toContain(CHANGES_LINE);
    expect(readFileSync(join(dirname(config), "out", "r.txt"), "utf8")).toBe("x");
  });

  it("plugins logs --follow: stopped following the logs; nothing was changed; exit 130", async () => {
    const follow = runInBackground(["plugins", "logs", "slowfs", "--follow"], { WFCTL_SOCKET: sandbox.cli.socket });
    let exited = false;
    const exit = follow.exit.then((code) => ((exited = true), code));
    await waitFor(() => exited || follow.output.stdout.includes(" slowfs["), 30_000, "the first log line of slowfs");
    follow.signal("SIGINT");
    const result = { code: (await exit) ?? -1, ...follow.output };
    expectExit(result, 130);
    expect(result.stderr).toBe("\nInterrupt received: stopped following the logs; nothing was changed.\n");
  });
});
