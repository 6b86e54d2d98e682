// Ctrl-C at random points of real applies (creates, updates and deletes of
// 100 local files, and 30 files of the settlefs fixture, whose changes linger
// after the file is written, as cloud resources do while they become ready:
// through the real CLI and a warm daemon): after each
// interruption every file on disk has a record, every confirmed record
// matches its file, no temporary file is left, every unconfirmed record is
// shown by the next plan, and the lock is free; after all of them, one
// apply converges. The seed is printed; WFCTL_FAULT_SEED repeats a run.
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { waitFor } from "../helpers/processes.js";
import { declareSettlefs, disagreements, fileStack, listRecords, seededRandom, unconfirmed } from "../helpers/state-vs-files.js";
import { runInBackground } from "../helpers/terminal.js";

/**
 * Each try is one interruption at one random point, so its chance to land in
 * the middle of a change does not grow with the stack: 100 files make the
 * same checks as 300 did, at a third of the cost of each apply.
 */
const RESOURCES = 100;
const LINGERING = 30;
const TRIES = 20;

/** Generation g of the stack: every file's content changes, and a different fifth is left out (deleted, or created again). */
function generation(g: number): string {
  const kept = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => (i + g) % 5 !== 0);
  return fileStack(kept(RESOURCES), `generation ${g}`, { settle: kept(LINGERING), settleMs: 300 });
}

const count = (stdout: string, type: string) => stdout.split("\n").filter((line) => line.includes(`"type":"${type}"`)).length;

describe("Ctrl-C at random points of an apply", () => {
  const sandbox = cliSandbox("wft-int-");
  const seed = Number(process.env["WFCTL_FAULT_SEED"] ?? Date.now() % 1_000_000);

  it(`state records exactly what exists after each of ${TRIES} interrupted applies of ${RESOURCES} files (seed in the name of each check)`, async () => {
    const random = seededRandom(seed);
    const config = join(sandbox.dir, "infra.yaml");
    const root = join(sandbox.dir, "out");
    const locks = join(sandbox.dir, ".wfctl", "state", "default", "locks");
    const interrupted: string[] = [];
    writeFileSync(config, generation(0));
    await declareSettlefs(sandbox.cli, sandbox.dir, config);
    for (let g = 1; g <= TRIES; g++) {
      writeFileSync(config, generation(g));
      // Interrupt while planning (a few) or after a random number of changes finished (most);
      // after one event at least: a Ctrl-C before the command has started is no point of an apply.
      const duringPlan = random() < 0.15;
      const after = Math.max(1, duringPlan ? Math.floor(random() * RESOURCES) : Math.floor(random() * RESOURCES * 0.9));
      const what = duringPlan ? "resource_planned" : "resource_finish";
      const apply = runInBackground(["infra", "apply", "-c", config, "--auto-approve", "--json"], { WFCTL_SOCKET: sandbox.cli.socket });
      let exited = false;
      const exit = apply.exit.then((code) => {
        exited = true;
        return code;
      });
      await waitFor(() => exited || count(apply.output.stdout, what) >= after, 60_000, `${after} ${what} events (seed ${seed}, try ${g})`);
      if (!exited) apply.signal("SIGINT");
      const code = await exit;
      const label = `seed ${seed}, try ${g}: SIGINT after ${after} ${what}; exit ${code}`;
      interrupted.push(label);
      expect([0, 130], `${label}\n${apply.output.stderr}`).toContain(code);

      const records = await listRecords(sandbox.cli, config);
      expect(disagreements(records, root), label).toEqual([]);
      expect(existsSync(locks) ? readdirSync(locks) : [], `${label}: the lock is released`).toEqual([]);
      const pending = unconfirmed(records);
      if (pending.length > 0) {
        const { report } = await sandbox.cli.events<{ changes: { name: string; recorded_status?: string }[] }>(["infra", "plan", "-c", config]);
        const shown = report.changes.filter((c) => c.recorded_status).map((c) => c.name).sort();
        expect(shown, `${label}: the next plan shows every unconfirmed record`).toEqual(pending);
      }
    }
    // One more apply converges: everything recorded, confirmed, and matching.
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { timeoutMs: 120_000 }), 0);
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
    const records = await listRecords(sandbox.cli, config);
    expect(disagreements(records, root)).toEqual([]);
    expect(unconfirmed(records)).toEqual([]);
    expect(records.size).toBe((RESOURCES + LINGERING) * 0.8);
    // Most tries must really have been cut short (exit 130), or this test proves little.
    expect(interrupted.filter((t) => t.endsWith("exit 130")).length, interrupted.join("\n")).toBeGreaterThanOrEqual(TRIES * 0.75);
  }, 600_000);
});
