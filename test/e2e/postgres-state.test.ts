// State in a real PostgreSQL, through the real CLI: the quickstart unchanged
// but for its state module; two applies from two daemons at once (one waits
// for nothing: it fails at once, naming who holds the lock); a daemon killed
// mid-apply leaves a lock that `state unlock` shows and releases, and the next
// apply converges.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { Cli, cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS, quickstartWithState } from "../helpers/paths.js";
import { runInBackground } from "../helpers/terminal.js";
import { isAlive, waitFor } from "../helpers/processes.js";
import { createDatabase } from "../servers/postgres.js";

/** The state module for a database, the URL passed through an environment variable. */
const POSTGRES_STATE = "  - name: state\n    type: iac.state\n    config:\n      backend: postgres\n      url_env: WFCTL_TEST_STATE_URL\n";

describe("postgres state", () => {
  const sandbox = cliSandbox("wft-pg-");
  let url = "";
  const env = () => ({ WFCTL_TEST_STATE_URL: url });

  beforeAll(async () => {
    url = await createDatabase(inject("postgresUrl"), "wfctl_e2e");
  });

  it("runs the quickstart unchanged but for backend: postgres", async () => {
    const config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, quickstartWithState(POSTGRES_STATE));
    const run = (args: string[]) => sandbox.cli.run(args, { env: env() });

    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(readFileSync(join(sandbox.dir, "out", "site", "index.html"), "utf8")).toContain("Hello from wfctl.");
    expect(existsSync(join(sandbox.dir, ".wfctl"))).toBe(false); // nothing on disk: state is in the database
    const { value } = await sandbox.cli.json<{ backend: string; namespace: string; resources: { name: string }[] }>(["infra", "state", "list", "-c", config], { env: env() });
    expect(value.backend).toContain("postgres");
    expect(value.backend).not.toContain("password");
    expect(value.resources.map((r) => r.name).sort()).toEqual(["index", "robots", "site"]);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
    expectExit(await run(["infra", "apply", "-c", config, "--env", "staging", "--auto-approve"]), 0);
    const { value: staging } = await sandbox.cli.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config, "--env", "staging"], { env: env() });
    expect(staging.resources.map((r) => r.name).sort()).toEqual(["index", "robots-staging", "site"]);
    expectExit(await run(["infra", "destroy", "-c", config, "--auto-approve"]), 0);
    expectExit(await run(["infra", "destroy", "-c", config, "--env", "staging", "--auto-approve"]), 0);
  });

  describe("shared by two daemons", () => {
    let dir: string;
    let config: string;
    let other: Cli;
    const out = (name: string) => join(dir, "out", name);
    const run = (cli: Cli, args: string[]) => cli.run(args, { env: env() });

    // The slow create waits for as long as out/.hold-slow exists (see slowfs.mjs).
    const hold = () => {
      mkdirSync(join(dir, "out"), { recursive: true });
      writeFileSync(out(".hold-slow"), "");
    };
    const release = () => rmSync(out(".hold-slow"), { force: true });
    const infra = (delay: number) =>
      "modules:\n" +
      POSTGRES_STATE.replace("url_env: WFCTL_TEST_STATE_URL", "url_env: WFCTL_TEST_STATE_URL\n      schema: shared") +
      "  - name: files\n    type: iac.provider\n    config: { provider: slowfs, root: out }\n" +
      `  - name: quick\n    type: slowfs.file\n    provider: files\n    config: { path: quick.txt, content: "q" }\n` +
      `  - name: slow\n    type: slowfs.file\n    provider: files\n    config: { path: slow.txt, content: "s", delay_ms: ${delay} }\n`;

    const applyInBackground = () => runInBackground(["infra", "apply", "-c", config, "--auto-approve"], { ...env(), WFCTL_SOCKET: sandbox.cli.socket });

    beforeAll(async () => {
      dir = join(sandbox.dir, "shared");
      config = join(dir, "infra.yaml");
      other = new Cli(join(sandbox.dir, "sock-other"));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "slowfs-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))};\n`);
      writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./slowfs-plugin.mjs\n    version: 2.0.0\n");
      writeFileSync(config, infra(0));
      expectExit(await run(sandbox.cli, ["plugins", "lock", "-c", config]), 0);
    });

    it("two applies at once: one proceeds, the other fails at once naming the holder and operation; nothing is lost", async () => {
      hold();
      const first = applyInBackground();
      await waitFor(() => existsSync(out(".started-slow")), 20_000, "the first apply to start its slow create");
      // Released only after it returns: a second apply that waited for the lock would never return.
      const second = await run(other, ["infra", "apply", "-c", config, "--auto-approve"]);
      release();
      expectExit(second, 3);
      expect(second.stderr).toMatch(/state lock "stack" is held by \S+@\S+ \(pid \d+, wfctld pid \d+\) for "apply" since \S+ \(lock id [0-9a-f-]{36}/);
      expect(await first.exit, `first apply:\n${first.output.stdout}\n${first.output.stderr}`).toBe(0);
      const { value } = await other.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config], { env: env() });
      expect(value.resources.map((r) => r.name).sort()).toEqual(["quick", "slow"]);
      expectExit(await run(other, ["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
      await other.run(["daemon", "stop"]);
    });

    it("a daemon killed mid-apply leaves its lock; state unlock shows who held it and releases it; the next apply converges", async () => {
      writeFileSync(config, infra(0).replace('content: "s"', 'content: "s2"'));
      rmSync(out(".started-slow"), { force: true }); // the first test's evidence: wait for this apply's own
      hold();
      const victim = applyInBackground();
      await waitFor(() => existsSync(out(".started-slow")) && readFileSync(out(".started-slow"), "utf8") !== "", 20_000, "the slow update to start");
      const { value: status } = await sandbox.cli.json<{ pid: number }>(["daemon", "status"]);
      process.kill(status.pid, "SIGKILL");
      await waitFor(() => !isAlive(status.pid), 10_000, "the daemon to die");
      expect(await victim.exit).not.toBe(0);
      release();

      // The lock outlived its holder, visibly.
      const blocked = await run(sandbox.cli, ["infra", "apply", "-c", config, "--auto-approve"]);
      expectExit(blocked, 3);
      const lockId = /lock id ([0-9a-f-]{36})/.exec(blocked.stderr)?.[1];
      expect(lockId, blocked.stderr).toBeDefined();

      const wrong = await run(sandbox.cli, ["infra", "state", "unlock", "00000000-0000-0000-0000-000000000000", "-c", config]);
      expectExit(wrong, 1);
      expect(wrong.stderr).toContain("not unlocking");

      const released = await run(sandbox.cli, ["infra", "state", "unlock", lockId as string, "-c", config]);
      expectExit(released, 0);
      expect(released.stdout).toMatch(new RegExp(`Released: state lock "stack" is held by .* for "apply" since .*lock id ${lockId}`));
      expect(released.stderr).toContain(`AUDIT unlock operation="state unlock"`);

      expectExit(await run(sandbox.cli, ["infra", "apply", "-c", config, "--auto-approve"]), 0);
      expect(readFileSync(out("slow.txt"), "utf8")).toBe("s2");
      expectExit(await run(sandbox.cli, ["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
      expectExit(await run(sandbox.cli, ["infra", "state", "unlock", lockId as string, "-c", config]), 1);
    });
  });
});
