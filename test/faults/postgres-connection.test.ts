// wfctld's PostgreSQL connections killed under it (pg_terminate_backend, what
// a server restart, a failover or a DBA does), while an apply saves records
// and while it is idle. Before, a client checked out of the pool had no
// 'error' listener: "Unhandled 'error' event … Connection terminated
// unexpectedly" ended the daemon in 3 tries of 4. Now the daemon stays up
// (same pid), the interrupted apply succeeds or fails naming the state
// backend, the next command works, and the cause is in wfctld.log.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { isAlive, waitFor } from "../helpers/processes.js";
import { runInBackground } from "../helpers/terminal.js";
import { createDatabase } from "../servers/postgres.js";
import { daemonFiles } from "../../proto/socket.js";

/** This file's own database: other test files share the server, never their connections. */
const DATABASE = "wfctl_faults_pg_connection";
const FILES = 120;
const TRIES = 4;

function config(content: string): string {
  let text =
    "modules:\n" +
    "  - name: state\n    type: iac.state\n    config: { backend: postgres, url_env: WFCTL_TEST_STATE_URL }\n" +
    "  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n";
  for (let i = 0; i < FILES; i++) text += `  - name: f${i}\n    type: local.file\n    provider: local\n    config: { path: f${i}.txt, content: "${content}" }\n`;
  return text;
}

/** Terminates every connection wfctld holds to this file's database; how many there were. */
async function killWfctldConnections(): Promise<number> {
  const admin = new pg.Client({ connectionString: inject("postgresUrl") });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ killed: boolean }>(
      "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'wfctld' AND datname = $1 AND pid <> pg_backend_pid()",
      [DATABASE],
    );
    return rows.filter((r) => r.killed).length;
  } finally {
    await admin.end();
  }
}

describe("PostgreSQL connections lost under the daemon", () => {
  const sandbox = cliSandbox("wft-pgc-");
  let url = "";
  let file = "";
  const env = () => ({ WFCTL_TEST_STATE_URL: url });
  const run = (args: string[]) => sandbox.cli.run(args, { env: env(), timeoutMs: 90_000 });
  /** The daemon's pid, checking it has no unhandled error on record (the last resort must not be what kept it up). */
  const daemonPid = async () => {
    const { value } = await sandbox.cli.json<{ pid: number; uncaught_errors: number; last_uncaught_error?: string }>(["daemon", "status"]);
    expect(value.uncaught_errors, `unhandled errors in wfctld, the last: ${value.last_uncaught_error}`).toBe(0);
    return value.pid;
  };
  const updated = (content: string) => {
    let n = 0;
    for (let i = 0; i < FILES; i++) {
      try {
        if (readFileSync(join(sandbox.dir, "out", `f${i}.txt`), "utf8") === content) n++;
      } catch {
        // not written yet
      }
    }
    return n;
  };

  beforeAll(async () => {
    url = await createDatabase(inject("postgresUrl"), DATABASE);
    file = join(sandbox.dir, "infra.yaml");
    writeFileSync(file, config("v0"));
    expectExit(await run(["infra", "apply", "-c", file, "--auto-approve"]), 0);
  });

  it(`keeps serving when they are killed in the middle of an apply (${TRIES} tries); each apply succeeds or names the backend, and the next converges`, { timeout: 240_000 }, async () => {
    const pid = await daemonPid();
    const outcomes: string[] = [];
    for (let attempt = 1; attempt <= TRIES; attempt++) {
      const content = `v${attempt}`;
      writeFileSync(file, config(content));
      const apply = runInBackground(["infra", "apply", "-c", file, "--auto-approve"], { ...env(), WFCTL_SOCKET: sandbox.cli.socket });
      let exited = false;
      const exit = apply.exit.then((code) => {
        exited = true;
        return code;
      });
      // Kill while records are being saved: once a few changes are done, again a little later.
      let killed = 0;
      for (const progress of [10, 40]) {
        await waitFor(() => exited || updated(content) >= progress, 60_000, `${progress} files of apply ${attempt} to be written`);
        if (!exited) killed += await killWfctldConnections();
      }
      const code = await exit;
      const output = `${apply.output.stdout}\n${apply.output.stderr}`;
      outcomes.push(`try ${attempt}: ${killed} connections killed, apply exit ${code}`);
      expect(isAlive(pid), `wfctld (pid ${pid}) died in try ${attempt}:\n${output}`).toBe(true);
      if (code !== 0) expect(output, `apply ${attempt} failed without naming the state backend`).toMatch(/cannot use postgres|STATE_BACKEND_UNAVAILABLE/);
      // The next command works, on the same daemon, and converges.
      expectExit(await run(["infra", "apply", "-c", file, "--auto-approve"]), 0);
      expectExit(await run(["infra", "plan", "-c", file, "--detailed-exitcode"]), 0);
      expect(updated(content)).toBe(FILES);
      expect(await daemonPid()).toBe(pid);
    }
    console.log(outcomes.join("\n"));
    const log = readFileSync(daemonFiles(sandbox.cli.socket).log, "utf8");
    expect(log).toContain("lost a connection to the state database");
    expect(log).toMatch(/terminating connection due to administrator command|Connection terminated unexpectedly/);
  });

  it("keeps serving when its idle connections are killed; the next command reconnects", async () => {
    const pid = await daemonPid();
    // Right after a command, the pool still holds its connections, idle.
    expectExit(await run(["infra", "state", "list", "-c", file]), 0);
    const logPath = daemonFiles(sandbox.cli.socket).log;
    const before = readFileSync(logPath, "utf8").length;
    expect(await killWfctldConnections()).toBeGreaterThan(0);
    await waitFor(() => readFileSync(logPath, "utf8").slice(before).includes("an idle connection"), 10_000, "the lost idle connection in wfctld.log");
    const listed = await sandbox.cli.json<{ resources: unknown[] }>(["infra", "state", "list", "-c", file], { env: env() });
    expectExit(listed.result, 0);
    expect(listed.value.resources).toHaveLength(FILES);
    expect(await daemonPid()).toBe(pid);
  });
});
