// Processes killed in the middle of an apply of 300 local files, through the
// real CLI: the provider plugin (SIGKILL, three times at random points) and
// the daemon itself (SIGKILL). Each time, every file on disk has a record
// (the intent recorded before each create and delete, or the result), the
// next plan shows what was never confirmed, and re-running converges with no
// temporary file left; after the daemon's death the lock it held is named
// stale with the command that releases it, and that command is all it takes.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Cli, cliSandbox, expectExit } from "../helpers/cli.js";
import { waitFor } from "../helpers/processes.js";
import { declareSettlefs, disagreements, fileStack, listRecords, seededRandom, unconfirmed } from "../helpers/state-vs-files.js";
import { runInBackground } from "../helpers/terminal.js";

const RESOURCES = 300;
const names = (g: number) => Array.from({ length: RESOURCES }, (_, i) => i).filter((i) => (i + g) % 4 !== 0);

/** Starts an apply, runs `kill` once `after` changes finished; the apply's exit code and output. */
async function applyAndKill(cli: Cli, config: string, after: number, kill: () => Promise<void>) {
  const apply = runInBackground(["infra", "apply", "-c", config, "--auto-approve", "--json"], { WFCTL_SOCKET: cli.socket });
  const finished = () => apply.output.stdout.split("\n").filter((l) => l.includes('"type":"resource_finish"')).length;
  let exited = false;
  const exit = apply.exit.then((code) => ((exited = true), code));
  await waitFor(() => exited || finished() >= after, 60_000, `${after} changes to finish`);
  const killed = !exited;
  if (killed) await kill();
  return { code: await exit, killed, stdout: apply.output.stdout, stderr: apply.output.stderr };
}

/** Disagreements other than temporary files, which a killed write may leave until the next apply of that file. */
const apart = (problems: string[]) => problems.filter((p) => !p.startsWith("temporary file"));

async function converge(cli: Cli, config: string, root: string): Promise<void> {
  expectExit(await cli.run(["infra", "apply", "-c", config, "--auto-approve"], { timeoutMs: 120_000 }), 0);
  expectExit(await cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  const records = await listRecords(cli, config);
  expect(disagreements(records, root)).toEqual([]);
  expect(unconfirmed(records)).toEqual([]);
}

describe("processes killed mid-apply", () => {
  const sandbox = cliSandbox("wft-kill-");
  const seed = Number(process.env["WFCTL_FAULT_SEED"] ?? Date.now() % 1_000_000);

  it(`the provider plugin SIGKILLed at three random points (seed ${seed}): state matches the files each time, and re-running converges`, async () => {
    const random = seededRandom(seed);
    const config = join(sandbox.dir, "plugin.yaml");
    const root = join(sandbox.dir, "out");
    let killed = 0;
    for (let g = 1; g <= 3; g++) {
      writeFileSync(config, fileStack(names(g), `generation ${g}`));
      const after = 10 + Math.floor(random() * (RESOURCES * 0.6));
      const result = await applyAndKill(sandbox.cli, config, after, async () => {
        const { value } = await sandbox.cli.json<{ plugins: { name: string; pid: number; state: string }[] }>(["plugins", "list"]);
        const local = value.plugins.find((p) => p.name === "local" && p.state === "running");
        expect(local?.pid, "the local plugin is running").toBeGreaterThan(0);
        process.kill(local?.pid as number, "SIGKILL");
      });
      const label = `seed ${seed}, try ${g}: plugin killed after ${after} changes (exit ${result.code})`;
      if (result.killed) {
        killed++;
        expect([0, 4], `${label}\n${result.stderr}`).toContain(result.code);
      }
      const records = await listRecords(sandbox.cli, config);
      expect(apart(disagreements(records, root)), label).toEqual([]);
    }
    expect(killed, "the plugin was killed mid-apply at least twice").toBeGreaterThanOrEqual(2);
    await converge(sandbox.cli, config, root);
  }, 300_000);

  it("the daemon SIGKILLed mid-apply: every file has a record, the lock is named stale with its unlock command, and that is all re-running needs", async () => {
    // The same stack (same state, same files), its next generation.
    const config = join(sandbox.dir, "daemon.yaml");
    const root = join(sandbox.dir, "out");
    // Twenty lingering settlefs files (a second each, ten at a time) keep the apply running while the daemon is killed.
    const lingering = { settle: Array.from({ length: 20 }, (_, i) => i), settleMs: 1_000 };
    writeFileSync(config, fileStack(names(7), "generation 7", lingering));
    await declareSettlefs(sandbox.cli, sandbox.dir, config);
    const { value: status } = await sandbox.cli.json<{ pid: number }>(["daemon", "status"]);
    const result = await applyAndKill(sandbox.cli, config, 20, async () => {
      process.kill(status.pid, "SIGKILL");
    });
    expect(result.killed, "the apply ended before the daemon could be killed").toBe(true);
    expect(result.code, result.stderr).toBe(4);
    expect(result.stderr).toContain("wfctld went away in the middle of this command");
    expect(result.stdout).toContain('"code":"DAEMON_UNAVAILABLE"');

    // A new daemon starts on demand; the records it finds match the files.
    const records = await listRecords(sandbox.cli, config);
    expect(apart(disagreements(records, root))).toEqual([]);

    const held = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(held, 3);
    expect(held.stderr).toContain("stale");
    const command = /wfctl infra state unlock (\S+)/.exec(held.stderr);
    expect(command, held.stderr).not.toBeNull();
    expectExit(await sandbox.cli.run(["infra", "state", "unlock", command?.[1] as string, "-c", config]), 0);
    await converge(sandbox.cli, config, root);
  }, 300_000);
});
