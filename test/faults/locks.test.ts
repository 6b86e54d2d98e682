// State locks that recover, through the real CLI, a real daemon, the slowfs
// fixture plugin and a real PostgreSQL:
// - a release the store refuses (DELETE revoked on the lock table mid-apply)
//   is retried, reported to the caller (stderr and --json), listed by
//   `daemon status`, and released by the background retry once the store
//   takes it again; a re-run then never trips over the daemon's own orphan;
// - a wfctld SIGKILLed mid-apply leaves a lock the next apply names as stale,
//   with the exact unlock command (config and environment), which releases
//   it, and the apply after converges;
// - an empty lock file (a crash while one was written) is refused with the
//   --force command, and `state unlock --force` releases it only with
//   --approve or a "yes" on a terminal.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Cli, cliSandbox, expectExit, parseEvents } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";
import { runInBackground, runOnTerminal } from "../helpers/terminal.js";
import { createDatabase } from "../servers/postgres.js";

/** A project using the slowfs fixture plugin (declared in wfctl.yaml, locked) in `dir`, with `state` as its iac.state module. */
async function slowfsProject(cli: Cli, dir: string, state: string, delayMs: number, env: Record<string, string> = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "infra.yaml");
  writeFileSync(join(dir, "slowfs-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))};\n`);
  writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./slowfs-plugin.mjs\n    version: 2.0.0\n");
  writeFileSync(config, slowfsConfig(state, delayMs, "s"));
  expectExit(await cli.run(["plugins", "lock", "-c", config], { env }), 0);
  return config;
}

function slowfsConfig(state: string, delayMs: number, content: string): string {
  return (
    "modules:\n" +
    state +
    "  - name: files\n    type: iac.provider\n    config: { provider: slowfs, root: out }\n" +
    `  - name: quick\n    type: slowfs.file\n    provider: files\n    config: { path: quick.txt, content: "q" }\n` +
    `  - name: slow\n    type: slowfs.file\n    provider: files\n    config: { path: slow.txt, content: "${content}", delay_ms: ${delayMs} }\n`
  );
}

/** Makes slowfs's change of "slow" wait until `release` is called (it waits while out/.hold-slow exists). */
function holdSlow(dir: string): () => void {
  mkdirSync(join(dir, "out"), { recursive: true });
  writeFileSync(join(dir, "out", ".hold-slow"), "");
  return () => rmSync(join(dir, "out", ".hold-slow"), { force: true });
}

/** Waits for slowfs to begin the create or update of "slow" (its marker, written fresh). */
async function slowStarted(dir: string): Promise<void> {
  const marker = join(dir, "out", ".started-slow");
  await waitFor(() => existsSync(marker) && readFileSync(marker, "utf8") !== "", 30_000, "the slow change to start");
}

const ROLE = "wfctl_lock_fault";
const PASSWORD = "wfctl-lock-fault";

describe("a lock release the state store refuses", () => {
  const sandbox = cliSandbox("wft-lockrel-");
  let admin: pg.Client;
  let url = "";
  let dir = "";
  let config = "";
  const env = () => ({ WFCTL_TEST_STATE_URL: url });
  const STATE = "  - name: state\n    type: iac.state\n    config: { backend: postgres, url_env: WFCTL_TEST_STATE_URL, schema: lockfault }\n";

  beforeAll(async () => {
    const database = await createDatabase(inject("postgresUrl"), "wfctl_lock_fault");
    admin = new pg.Client({ connectionString: database });
    await admin.connect();
    // The daemon connects as a role of its own, so that the test can take a privilege away from it mid-apply.
    const exists = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [ROLE]);
    if (exists.rowCount === 0) await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
    await admin.query(`GRANT CONNECT, CREATE ON DATABASE wfctl_lock_fault TO ${ROLE}`);
    const role = new URL(database);
    role.username = ROLE;
    role.password = PASSWORD;
    url = role.toString();
    dir = join(sandbox.dir, "project");
    config = await slowfsProject(sandbox.cli, dir, STATE, 0, env());
  });
  afterAll(async () => {
    await admin?.end();
  });

  const revoke = () => admin.query(`REVOKE DELETE ON lockfault.wfctl_locks FROM ${ROLE}`);
  const grant = () => admin.query(`GRANT DELETE ON lockfault.wfctl_locks TO ${ROLE}`);
  const locksHeld = async () => Number((await admin.query<{ n: string }>("SELECT count(*) AS n FROM lockfault.wfctl_locks")).rows[0]?.n);
  const pending = async () =>
    (await sandbox.cli.json<{ pending_lock_releases: { lock_id: string; scope: string; operation: string; attempts: number; last_error: string }[] }>(["daemon", "status"])).value
      .pending_lock_releases;

  /** An apply (--json) during which the lock table refuses deletes: it succeeds, and warns that its lock is still held. */
  async function applyWithRefusedRelease(content: string): Promise<{ lockId: string; stderr: string }> {
    writeFileSync(config, slowfsConfig(STATE, 0, content));
    rmSync(join(dir, "out", ".started-slow"), { force: true });
    const release = holdSlow(dir);
    const apply = runInBackground(["infra", "apply", "-c", config, "--auto-approve", "--json"], { ...env(), WFCTL_SOCKET: sandbox.cli.socket });
    await slowStarted(dir);
    await revoke();
    release();
    const code = await apply.exit;
    const { report } = parseEvents<{ complete: boolean; warnings: string[] }>({ code: code ?? -1, ...apply.output }, "apply");
    expect(code, apply.output.stderr).toBe(0);
    expect(report.complete).toBe(true);
    expect(report.warnings).toHaveLength(1);
    const warning = report.warnings[0] as string;
    expect(warning).toMatch(/^the state lock [0-9a-f-]{36} \(postgres .*namespace default, lock "stack"\) could not be released after 5 attempts: .*permission denied/);
    expect(warning).toContain("wfctld retries in the background");
    expect(apply.output.stderr).toContain(`Warning: ${warning}`);
    return { lockId: /the state lock ([0-9a-f-]{36})/.exec(warning)?.[1] as string, stderr: apply.output.stderr };
  }

  it("is retried and reported, listed by daemon status, and released by the background retry once the store takes it", async () => {
    const { lockId } = await applyWithRefusedRelease("s1");
    expect(readFileSync(join(dir, "out", "slow.txt"), "utf8")).toBe("s1");
    expect(await locksHeld()).toBe(1);
    const listed = await pending();
    expect(listed).toEqual([expect.objectContaining({ lock_id: lockId, operation: "apply" })]);
    expect(listed[0]?.last_error).toContain("permission denied");

    // Meanwhile this daemon's next apply retries the release first, fails again, and says whose lock it is.
    const blocked = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env: env() });
    expectExit(blocked, 3);
    expect(blocked.stderr).toContain(`it is this wfctld's (pid `);
    expect(blocked.stderr).toContain("releasing the lock failed (");
    expect(blocked.stderr).toContain(`wfctl infra state unlock ${lockId} -c ${config}`);

    await grant();
    await waitFor(async () => (await pending()).length === 0, 90_000, "the background retry to release the lock");
    expect(await locksHeld()).toBe(0);
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"], { env: env() }), 0);
  }, 180_000);

  it("never trips a re-run once the store takes it again: the release is retried before the lock is taken", async () => {
    await applyWithRefusedRelease("s2");
    await grant();
    // Straight away: whichever of the background retry and the re-run's own retry comes first releases it.
    const rerun = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env: env() });
    expectExit(rerun, 0);
    expect(rerun.stderr).not.toContain("Warning:");
    expect(await locksHeld()).toBe(0);
    expect(await pending()).toEqual([]);
  }, 180_000);
});

describe("a stale lock", () => {
  const sandbox = cliSandbox("wft-stale-");

  it("left by a wfctld SIGKILLed mid-apply is named stale with the exact unlock command, which releases it; the next apply converges", async () => {
    const dir = join(sandbox.dir, "project");
    const STATE = "  - name: state\n    type: iac.state\n    config: { backend: filesystem }\n    environments: { staging: {} }\n";
    const config = await slowfsProject(sandbox.cli, dir, STATE, 0);
    const release = holdSlow(dir);
    const victim = runInBackground(["infra", "apply", "-c", config, "--env", "staging", "--auto-approve"], { WFCTL_SOCKET: sandbox.cli.socket });
    await slowStarted(dir);
    const { value: status } = await sandbox.cli.json<{ pid: number }>(["daemon", "status"]);
    process.kill(status.pid, "SIGKILL");
    await waitFor(() => !isAlive(status.pid), 10_000, "the daemon to die");
    expect(await victim.exit).not.toBe(0);
    release();

    // A new daemon starts for the next command; the lock names the dead one.
    writeFileSync(config, slowfsConfig(STATE, 0, "s"));
    const blocked = await sandbox.cli.run(["infra", "apply", "-c", config, "--env", "staging", "--auto-approve"]);
    expectExit(blocked, 3);
    const lockId = /lock id ([0-9a-f-]{36})/.exec(blocked.stderr)?.[1] as string;
    expect(lockId, blocked.stderr).toBeDefined();
    const command = `wfctl infra state unlock ${lockId} -c ${config} --env staging`;
    expect(blocked.stderr).toContain(
      `the holder looks stale: wfctld pid ${status.pid} on this host is no longer running. ` +
        `If no wfctl command is still running against this state, release it with: ${command}`,
    );

    const released = await sandbox.cli.run(command.split(" ").slice(1));
    expectExit(released, 0);
    expect(released.stderr).toContain(`AUDIT unlock operation="state unlock"`);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--env", "staging", "--auto-approve"]), 0);
    expect(readFileSync(join(dir, "out", "slow.txt"), "utf8")).toBe("s");
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--env", "staging", "--detailed-exitcode"]), 0);
  }, 120_000);
});

describe("an empty lock file", () => {
  const sandbox = cliSandbox("wft-emptylock-");

  it("is refused naming --force; state unlock --force needs --approve (or 'yes' on a terminal) and releases it; the apply then converges", async () => {
    const dir = join(sandbox.dir, "project");
    mkdirSync(dir, { recursive: true });
    const config = join(dir, "infra.yaml");
    writeFileSync(
      config,
      "modules:\n  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n" +
        "  - name: f\n    type: local.file\n    provider: local\n    config: { path: f.txt, content: x }\n",
    );
    const lockFile = join(dir, ".wfctl", "state", "default", "locks", "stack.lock");
    mkdirSync(join(lockFile, ".."), { recursive: true });
    // What a crash while the lock file was being written left behind (before locks were written atomically).
    writeFileSync(lockFile, "");

    const blocked = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(blocked, 3);
    expect(blocked.stderr).toContain(`its lock file ${lockFile} cannot be read (it is empty)`);
    expect(blocked.stderr).toContain(`release it with: wfctl infra state unlock --force -c ${config}\n`);

    const empty = await sandbox.cli.run(["infra", "state", "unlock", "", "-c", config]);
    expectExit(empty, 64);
    expect(empty.stderr).toContain("--force");
    const byId = await sandbox.cli.run(["infra", "state", "unlock", "0b6f7c1e-1d2a-4c55-9d1e-3f1a2b3c4d5e", "-c", config]);
    expectExit(byId, 1);
    expect(byId.stderr).toContain(`wfctl infra state unlock --force -c ${config}`);
    const unapproved = await sandbox.cli.run(["infra", "state", "unlock", "--force", "-c", config]);
    expectExit(unapproved, 1);
    expect(unapproved.stderr).toContain("refusing to force the release of the state lock without --approve");
    expect(existsSync(lockFile)).toBe(true);

    const declined = await runOnTerminal(["infra", "state", "unlock", "--force", "-c", config], { WFCTL_SOCKET: sandbox.cli.socket }, "Enter a value:", "no");
    expectExit(declined, 1);
    expect(existsSync(lockFile)).toBe(true);

    const released = await sandbox.cli.run(["infra", "state", "unlock", "--force", "--approve", "-c", config]);
    expectExit(released, 0);
    expect(released.stderr).toContain(`AUDIT unlock operation="state unlock --force" resource=stack type=lock`);
    expect(existsSync(lockFile)).toBe(false);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(readFileSync(join(dir, "out", "f.txt"), "utf8")).toBe("x");

    // The same on a terminal, answered "yes".
    writeFileSync(lockFile, "{");
    const yes = await runOnTerminal(["infra", "state", "unlock", "--force", "-c", config], { WFCTL_SOCKET: sandbox.cli.socket }, "Enter a value:", "yes");
    expectExit(yes, 0);
    expect(yes.stdout).toContain("cannot be read (it is not JSON)");
    expect(existsSync(lockFile)).toBe(false);
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  }, 120_000);
});
