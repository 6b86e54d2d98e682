// A state store that fails in the middle of an apply, through the real CLI, a
// warm daemon and a real PostgreSQL: the server stopped (its own throwaway
// cluster, so no other test loses it), and the state table renamed away.
// Each time the daemon stays up, the apply stops at the first failed write
// and starts no provider call after it, every file on disk has a record
// (pending if its result could not be written) or is listed in the error, and
// once the store is back, re-running converges.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Cli, type JsonEvent, cliSandbox, expectExit, parseEvents } from "../helpers/cli.js";
import { waitFor } from "../helpers/processes.js";
import { declareSettlefs, disagreements, fileStack, listRecords, unconfirmed } from "../helpers/state-vs-files.js";
import { runInBackground } from "../helpers/terminal.js";
import { type RestartablePostgres, createDatabase, startRestartablePostgres } from "../servers/postgres.js";
import { postgresBinaries } from "../servers/postgres-binaries.js";

const RESOURCES = 100;
/** Ten settlefs files lingering 1.5 s each keep each apply running while the fault is inflicted. */
const LINGERING = { settle: Array.from({ length: 10 }, (_, i) => i), settleMs: 1_500 };
const state = (schema: string) =>
  `  - name: state\n    type: iac.state\n    config: { backend: postgres, url_env: WFCTL_FAULT_STATE_URL, schema: ${schema} }\n`;

interface ApplyReport {
  stopped?: { code: string; reason: string };
  unrecorded?: { name: string; provider_id: string; recorded_as: string }[];
}

/** Runs an apply in the background and does `fault` once `after` changes have finished; its events and report. */
async function applyWithFault(cli: Cli, config: string, env: Record<string, string>, after: number, fault: () => Promise<void>) {
  const apply = runInBackground(["infra", "apply", "-c", config, "--auto-approve", "--json"], { ...env, WFCTL_SOCKET: cli.socket });
  const finished = () => apply.output.stdout.split("\n").filter((l) => l.includes('"type":"resource_finish"')).length;
  let exited = false;
  const exit = apply.exit.then((code) => ((exited = true), code));
  await waitFor(() => exited || finished() >= after, 60_000, `${after} changes to finish`);
  expect(exited, `the apply ended before the fault could be inflicted:\n${apply.output.stderr}`).toBe(false);
  await fault();
  const code = (await exit) ?? -1;
  const result = { code, stdout: apply.output.stdout, stderr: apply.output.stderr };
  return { result, ...parseEvents<ApplyReport>(result, "wfctl infra apply") };
}

/** No provider call started after the first failed state write: no `resource_start` event follows it. */
function startedAfterFirstFailedWrite(events: readonly JsonEvent[]): string[] {
  const first = events.findIndex((e) => e.type === "resource_fail" && e.action === "record");
  expect(first, "a failed state write is reported as an event").toBeGreaterThanOrEqual(0);
  return events.slice(first + 1).filter((e) => e.type === "resource_start").map((e) => e.resource?.name ?? "?");
}

async function daemonPid(cli: Cli): Promise<number> {
  const { result, value } = await cli.json<{ pid: number }>(["daemon", "status"]);
  expectExit(result, 0);
  return value.pid;
}

describe("a state store failing mid-apply", () => {
  describe("PostgreSQL stopped", () => {
    // A daemon of its own: it reads the state URL from the environment it was started with.
    const sandbox = cliSandbox("wft-pgstop-");
    let server: RestartablePostgres;
    let env: Record<string, string>;

    beforeAll(async () => {
      // The outage needs a server of its own to stop, from the machine's binaries or npm's (it fails, saying so, without either).
      server = await startRestartablePostgres(postgresBinaries(inject("postgresBinaryCache")));
      env = { WFCTL_FAULT_STATE_URL: server.url };
    });
    afterAll(async () => {
      await server?.stop();
    });

    it("the daemon stays up, the apply stops at the first failed write, and after the restart re-running converges", async () => {
      const dir = join(sandbox.dir, "pg-stopped");
      const config = join(dir, "infra.yaml");
      const names = Array.from({ length: RESOURCES }, (_, i) => i);
      mkdirSync(dir, { recursive: true });
      writeFileSync(config, fileStack(names, "v1", { state: state("wfctl"), ...LINGERING }));
      await declareSettlefs(sandbox.cli, dir, config, env);
      const pid = await (async () => {
        // The daemon's first contact with the store: schema created, lock table ready.
        expectExit(await sandbox.cli.run(["infra", "plan", "-c", config], { env }), 0);
        return daemonPid(sandbox.cli);
      })();
      const { result, events, report } = await applyWithFault(sandbox.cli, config, env, 10, () => server.halt());
      expect(result.code, result.stderr).not.toBe(0);
      expect(report.stopped?.code, result.stderr).toBe("STATE_WRITE_FAILED");
      expect(result.stderr).toContain("started no change after the first failed write");
      expect(startedAfterFirstFailedWrite(events)).toEqual([]);
      expect(await daemonPid(sandbox.cli), "wfctld survived the outage").toBe(pid);

      await server.resume();
      const records = await listRecords(sandbox.cli, config, env);
      const listed = new Set((report.unrecorded ?? []).map((u) => u.name));
      expect(disagreements(records, join(dir, "out"), listed)).toEqual([]);
      // What the error listed as made-but-unrecorded is exactly what state holds as unconfirmed.
      for (const u of report.unrecorded ?? []) expect(records.get(u.name)?.status, u.name).toMatch(/pending|unknown/);

      expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env, timeoutMs: 120_000 }), 0);
      expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"], { env }), 0);
      const after = await listRecords(sandbox.cli, config, env);
      expect(disagreements(after, join(dir, "out"))).toEqual([]);
      expect(unconfirmed(after)).toEqual([]);
      expect(after.size).toBe(RESOURCES + LINGERING.settle.length);
    }, 300_000);
  });

  describe("the state table renamed away", () => {
    const sandbox = cliSandbox("wft-rename-");
    let url = "";
    const env = () => ({ WFCTL_FAULT_STATE_URL: url });
    const sql = async (text: string) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(text);
      } finally {
        await client.end();
      }
    };

    beforeAll(async () => {
      url = await createDatabase(inject("postgresUrl"), "wfctl_fault_rename");
    });

    it("the apply stops at the first failed write, lists what it could not record, and converges once the table is back", async () => {
      const dir = join(sandbox.dir, "renamed");
      const config = join(dir, "infra.yaml");
      const names = Array.from({ length: RESOURCES }, (_, i) => i);
      mkdirSync(dir, { recursive: true });
      writeFileSync(config, fileStack(names, "v1", { state: state("renamed"), ...LINGERING }));
      await declareSettlefs(sandbox.cli, dir, config, env());
      expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env: env(), timeoutMs: 120_000 }), 0);
      // Every file changes: updates, whose results cannot be recorded once the table is gone.
      writeFileSync(config, fileStack(names, "v2", { state: state("renamed"), ...LINGERING }));
      const pid = await daemonPid(sandbox.cli);
      const { result, events, report } = await applyWithFault(sandbox.cli, config, env(), 10, () => sql("ALTER TABLE renamed.wfctl_state RENAME TO wfctl_state_gone"));
      expect(result.code, result.stderr).not.toBe(0);
      expect(report.stopped?.code, result.stderr).toBe("STATE_WRITE_FAILED");
      expect(startedAfterFirstFailedWrite(events)).toEqual([]);
      expect(await daemonPid(sandbox.cli)).toBe(pid);
      // Updates that were made but could not be recorded are listed, with their provider ids;
      // every other record still matches its file.
      const listed = new Set((report.unrecorded ?? []).map((u) => u.name));
      for (const u of report.unrecorded ?? []) expect(u.provider_id).toContain(join(dir, "out"));
      await sql("ALTER TABLE renamed.wfctl_state_gone RENAME TO wfctl_state");
      expect(disagreements(await listRecords(sandbox.cli, config, env()), join(dir, "out"), listed)).toEqual([]);

      expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env: env(), timeoutMs: 120_000 }), 0);
      expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"], { env: env() }), 0);
      const after = await listRecords(sandbox.cli, config, env());
      expect(disagreements(after, join(dir, "out"))).toEqual([]);
      expect(unconfirmed(after)).toEqual([]);
    }, 300_000);
  });
});
