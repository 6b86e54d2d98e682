// The daemon killed (SIGKILL) in the middle of an apply: the client says so,
// as DAEMON_UNAVAILABLE with exit 4 (before: "Error: socket hang up", exit 1),
// naming the daemon's log and the state lock it may have left held; the next
// command says the lock is held, `state unlock` releases it, and the apply
// after converges on a new daemon.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";
import { runInBackground } from "../helpers/terminal.js";
import { daemonFiles } from "../../proto/socket.js";

const infra = (content: string, delayMs = 30_000) =>
  "modules:\n" +
  "  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: .wfctl/state }\n" +
  "  - name: files\n    type: iac.provider\n    config: { provider: slowfs, root: out }\n" +
  `  - name: slow\n    type: slowfs.file\n    provider: files\n    config: { path: slow.txt, content: "${content}", delay_ms: ${delayMs} }\n`;

describe("the daemon killed mid-command", () => {
  const sandbox = cliSandbox("wft-death-");
  let config = "";
  const out = (name: string) => join(sandbox.dir, "out", name);

  beforeAll(async () => {
    config = join(sandbox.dir, "infra.yaml");
    mkdirSync(join(sandbox.dir, "out"), { recursive: true });
    writeFileSync(join(sandbox.dir, "slowfs-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))};\n`);
    writeFileSync(join(sandbox.dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./slowfs-plugin.mjs\n    version: 2.0.0\n");
    writeFileSync(config, infra("one"));
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", config]), 0);
  });

  it("exits 4 (DAEMON_UNAVAILABLE) saying wfctld went away, where its log is, and how to release the lock it held", async () => {
    const apply = runInBackground(["infra", "apply", "-c", config, "--auto-approve"], { WFCTL_SOCKET: sandbox.cli.socket });
    await waitFor(() => existsSync(out(".started-slow")), 30_000, "the slow create to start");
    const { value } = await sandbox.cli.json<{ pid: number }>(["daemon", "status"]);
    process.kill(value.pid, "SIGKILL");
    await waitFor(() => !isAlive(value.pid), 10_000, "the daemon to die");
    const code = await apply.exit;
    expect(code, `stdout:\n${apply.output.stdout}\nstderr:\n${apply.output.stderr}`).toBe(4);
    const error = apply.output.stderr;
    expect(error).toContain("Error: wfctld went away in the middle of this command");
    expect(error).toContain(daemonFiles(sandbox.cli.socket).log);
    expect(error).toContain("`wfctl infra state unlock <lock id>`");
    expect(error).not.toMatch(/^Error: socket hang up/m);

    // The lock the killed daemon held is still held: the next apply stops at once, naming it.
    writeFileSync(config, infra("two"));
    const blocked = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(blocked, 3);
    const lockId = /lock id ([0-9a-f-]{36})/.exec(blocked.stderr)?.[1];
    expect(lockId, blocked.stderr).toBeDefined();
    expectExit(await sandbox.cli.run(["infra", "state", "unlock", lockId as string, "-c", config]), 0);

    // With --json, the same code as the last line on stdout.
    rmSync(out(".started-slow"));
    const second = runInBackground(["infra", "apply", "-c", config, "--auto-approve", "--json"], { WFCTL_SOCKET: sandbox.cli.socket });
    await waitFor(() => existsSync(out(".started-slow")), 30_000, "the next slow create to start");
    const { value: next } = await sandbox.cli.json<{ pid: number }>(["daemon", "status"]);
    expect(next.pid).not.toBe(value.pid);
    process.kill(next.pid, "SIGKILL");
    expect(await second.exit, second.output.stderr).toBe(4);
    const last = second.output.stdout.trim().split("\n").at(-1) ?? "";
    expect(JSON.parse(last)).toMatchObject({ error: { code: "DAEMON_UNAVAILABLE", message: expect.stringContaining("wfctld went away") } });

    // Its lock released, the stack converges on a new daemon.
    writeFileSync(config, infra("three", 0));
    const again = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(again, 3);
    const held = /lock id ([0-9a-f-]{36})/.exec(again.stderr)?.[1] as string;
    expectExit(await sandbox.cli.run(["infra", "state", "unlock", held, "-c", config]), 0);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(readFileSync(out("slow.txt"), "utf8")).toBe("three");
  });
});
