// A state-backend plugin as a third-party author writes it, through the real
// CLI and daemon: its LOCK_HELD errors are worded its own way
// (test/fixtures/plugins/worded-locks.mjs: `locked: holder=… id=…`), and the
// holder reaches wfctl only as data (ErrorDetails.lock). A lock left held is
// named with the right advice, listed by `wfctl infra state locks` (from the
// plugin's ListLocks, or, without it, from a probing Lock) and released by
// `wfctl infra state unlock <id>`. And a state plugin refused for what it is
// keeps its code: a changed file is PLUGIN_CHECKSUM_MISMATCH, a Configure
// the store refuses is PERMISSION_DENIED, both exit 1 (never "unavailable,
// retrying may help").
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Cli, type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";

/** A project whose state is the worded-locks plugin (declared, locked) with `settings` as extra iac.state config, in `dir`; its infra.yaml. */
async function wordedProject(cli: Cli, dir: string, settings: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "worded-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "worded-locks.mjs"))};\n`);
  writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: worded-locks\n    kind: state_backend\n    source: ./worded-plugin.mjs\n    version: 1.0.0\n");
  const config = join(dir, "infra.yaml");
  writeFileSync(
    config,
    "modules:\n" +
      `  - name: state\n    type: iac.state\n    config: { backend: worded-locks${settings} }\n` +
      "  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n" +
      "  - name: f\n    type: local.file\n    provider: local\n    config: { path: f.txt, content: x }\n",
  );
  expectExit(await cli.run(["plugins", "lock", "-c", config]), 0);
  return config;
}

/** The JSON error a failed `--json` command ends with. */
function errorOf(result: CliResult): { code: string; message: string; lock?: Record<string, unknown> } {
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  return (JSON.parse(line) as { error: { code: string; message: string; lock?: Record<string, unknown> } }).error;
}

interface ListedLock {
  resource_id: string;
  lock_id: string;
  holder: string;
  operation: string;
  host: string;
  pid: number;
  daemon_pid: number;
  liveness: string;
  unlock_command: string;
}

const gonePid = () => spawnSync(process.execPath, ["-e", ""]).pid as number;

describe.each([
  { listing: "with ListLocks", listLocks: true, host: "runner-7" },
  { listing: "without ListLocks (wfctl probes with Lock)", listLocks: false, host: hostname() },
])("a lock left held in a state plugin whose LOCK_HELD message is its own wording, $listing", ({ listLocks, host }) => {
  const sandbox = cliSandbox("wft-wlock-");

  it("is named with advice, listed by `state locks`, and released by `state unlock ID`; the apply after it succeeds", async () => {
    const daemonPid = gonePid();
    const dir = join(sandbox.dir, "project");
    const hold = `{ holder: "ci@runner-7", operation: apply, host: "${host}", pid: 4121, daemon_pid: ${daemonPid} }`;
    const config = await wordedProject(sandbox.cli, dir, `, list_locks: ${listLocks}, hold: ${hold}`);

    const blocked = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(blocked, 3);
    const lockId = readFileSync(join(dir, ".held-lock-id"), "utf8");
    const command = `wfctl infra state unlock ${lockId} -c ${config}`;
    expect(blocked.stderr).toContain(`locked: holder=ci@runner-7 operation="apply" since=`);
    expect(blocked.stderr).toContain(
      host === hostname()
        ? `the holder looks stale: wfctld pid ${daemonPid} on this host is no longer running. If no wfctl command is still running against this state, release it with: ${command}`
        : `it was taken on host runner-7: if that command is no longer running there, release it with: ${command}`,
    );

    const asJson = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve", "--json"]);
    expectExit(asJson, 3);
    expect(errorOf(asJson)).toMatchObject({ code: "LOCK_HELD", lock: { lock_id: lockId, resource_id: "stack", holder: "ci@runner-7", operation: "apply", host, pid: 4121, daemon_pid: daemonPid } });

    const { result, value } = await sandbox.cli.json<{ backend: string; locks: ListedLock[] }>(["infra", "state", "locks", "-c", config]);
    expectExit(result, 0);
    expect(value.backend).toBe("worded-locks (namespace default)");
    expect(value.locks).toEqual([
      expect.objectContaining({
        resource_id: "stack",
        lock_id: lockId,
        holder: "ci@runner-7",
        operation: "apply",
        host,
        pid: 4121,
        daemon_pid: daemonPid,
        liveness: host === hostname() ? "gone" : "unknown",
        unlock_command: command,
      }),
    ]);
    const table = await sandbox.cli.run(["infra", "state", "locks", "-c", config]);
    expectExit(table, 0);
    expect(table.stdout).toMatch(new RegExp(`^stack +${lockId} +ci@runner-7 +apply +\\S+ +${host === hostname() ? "gone" : "unknown"}$`, "m"));
    expect(table.stdout).toContain(`release it with:\n  ${command}\n`);

    const wrong = await sandbox.cli.run(["infra", "state", "unlock", "1111", "-c", config]);
    expectExit(wrong, 1);
    expect(wrong.stderr).toContain(`(lock id ${lockId}, wfctl 0.0.9), not 1111. Check the id`);

    const released = await sandbox.cli.run(command.split(" ").slice(1));
    expectExit(released, 0);
    expect(released.stderr).toContain(`AUDIT unlock operation="state unlock" resource=stack type=lock`);
    expect(released.stdout).toContain(`Released: state lock "stack" is held by ci@runner-7 for "apply"`);
    expect((await sandbox.cli.json<{ locks: ListedLock[] }>(["infra", "state", "locks", "-c", config])).value.locks).toEqual([]);
    expect((await sandbox.cli.run(["infra", "state", "locks", "-c", config])).stdout).toBe("No state lock is held (worded-locks (namespace default)).\n");

    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(readFileSync(join(dir, "out", "f.txt"), "utf8")).toBe("x");
  });
});

describe("a state plugin refused for what it is", () => {
  const sandbox = cliSandbox("wft-wrefuse-");

  it("whose file changed after `plugins lock` fails with PLUGIN_CHECKSUM_MISMATCH, exit 1, as a provider does", async () => {
    const dir = join(sandbox.dir, "changed");
    const config = await wordedProject(sandbox.cli, dir, "");
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config]), 0);
    appendFileSync(join(dir, "worded-plugin.mjs"), "// changed after plugins lock\n");
    // The instance already running was checked when it started: a fresh daemon starts a fresh one.
    expectExit(await sandbox.cli.run(["daemon", "stop"]), 0);
    const refused = await sandbox.cli.run(["infra", "plan", "-c", config, "--json"]);
    expectExit(refused, 1);
    expect(errorOf(refused)).toMatchObject({ code: "PLUGIN_CHECKSUM_MISMATCH", message: expect.stringContaining('cannot open state backend "worded-locks"') });
    const human = await sandbox.cli.run(["infra", "plan", "-c", config]);
    expectExit(human, 1);
    expect(human.stderr).toContain("If you changed the plugin on purpose, run `wfctl plugins lock` to pin the new code.");
  });

  it("whose store refuses Configure (PERMISSION_DENIED) keeps that code, exit 1", async () => {
    const config = await wordedProject(sandbox.cli, join(sandbox.dir, "denied"), ', deny: "the bucket policy refuses this role"');
    const refused = await sandbox.cli.run(["infra", "plan", "-c", config, "--json"]);
    expectExit(refused, 1);
    expect(errorOf(refused)).toMatchObject({ code: "PERMISSION_DENIED", message: expect.stringContaining("worded-locks: the bucket policy refuses this role") });
  });
});
