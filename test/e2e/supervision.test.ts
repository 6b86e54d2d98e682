// Supervision seen from the CLI, with the real daemon and plugin processes:
// a crashed plugin is restarted and `plugins list` says so, also when the
// operation that started it had a --timeout long expired; plugins never
// outlive a daemon killed with SIGKILL.
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { QUICKSTART, ROOT } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";

interface PluginJson {
  name: string;
  pid: number;
  state: string;
  restarts: number;
  healthy: boolean;
  last_error?: string;
  address: string;
  instance: string;
}

describe("supervision through the CLI", () => {
  const sandbox = cliSandbox("wft-sup-");
  const local = async (): Promise<PluginJson> => {
    const { value } = await sandbox.cli.json<{ plugins: PluginJson[] }>(["plugins", "list"]);
    const found = value.plugins.find((p) => p.name === "local" && p.state !== "not_started");
    if (!found) throw new Error(`no local instance in ${JSON.stringify(value)}`);
    return found;
  };

  it("restarts a crashed plugin; plugins list shows the restart and the last error; the next command works", async () => {
    const config = join(sandbox.dir, "infra.yaml");
    cpSync(join(QUICKSTART, "infra.yaml"), config);
    expect((await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { cwd: ROOT })).code).toBe(0);
    const before = await local();
    expect(before).toMatchObject({ state: "running", restarts: 0, healthy: true });
    process.kill(before.pid, "SIGKILL");

    let after = before;
    await waitFor(async () => {
      after = await local();
      return after.state === "running" && after.pid !== before.pid;
    }, 15_000, "the plugin to be restarted");
    expect(after.restarts).toBeGreaterThanOrEqual(1);
    expect(after.last_error).toContain("was killed by SIGKILL unexpectedly");
    expect(isAlive(after.pid)).toBe(true);
    expect((await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"], { cwd: ROOT })).code).toBe(0);
  });

  /** Running `local` instances, by pid. */
  const runningLocals = async (): Promise<PluginJson[]> => {
    const { value } = await sandbox.cli.json<{ plugins: PluginJson[] }>(["plugins", "list"]);
    return value.plugins.filter((p) => p.name === "local" && p.state === "running");
  };

  /** The quickstart under `name`/ with its own provider root: a provider configuration no other test used. */
  const ownQuickstart = (name: string): string => {
    const config = join(sandbox.dir, name, "infra.yaml");
    mkdirSync(dirname(config));
    writeFileSync(config, readFileSync(join(QUICKSTART, "infra.yaml"), "utf8").replace("root: out\n", `root: out-${name}\n`));
    return config;
  };

  /** Kills `victim` with SIGKILL and waits for its configuration's instance to run again under another pid. */
  const killAndAwaitRestart = async (victim: PluginJson): Promise<PluginJson> => {
    process.kill(victim.pid, "SIGKILL");
    let restarted: PluginJson | undefined;
    await waitFor(async () => {
      restarted = (await runningLocals()).find((p) => p.instance === victim.instance && p.pid !== victim.pid);
      return restarted !== undefined;
    }, 15_000, `instance ${victim.instance} to be restarted`);
    return restarted as PluginJson;
  };

  it("a plugin killed after the --timeout of the plan that started it has passed restarts healthy: its setup takes a fresh deadline", async () => {
    const config = ownQuickstart("expired");
    const others = new Set((await runningLocals()).map((p) => p.pid));
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--timeout", "3s"]), 0);
    const finished = Date.now();
    const started = (await runningLocals()).find((p) => !others.has(p.pid));
    if (!started) throw new Error("the plan started no plugin of its own");
    // The deadline was set when the daemon got the plan: at most 3 s before now + 3 s.
    await waitFor(() => Date.now() > finished + 3_000, 10_000, "the plan's deadline to pass");
    const restarted = await killAndAwaitRestart(started);
    expect(restarted).toMatchObject({ healthy: true, restarts: 1, last_error: "was killed by SIGKILL unexpectedly" });
    expect(isAlive(restarted.pid)).toBe(true);
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 2);
  });

  it("plugins exit by themselves when the daemon is killed with SIGKILL", async () => {
    const { value: status } = await sandbox.cli.json<{ pid: number }>(["daemon", "status"]);
    const plugin = await local();
    const socketDir = plugin.address.slice(0, plugin.address.lastIndexOf("/"));
    expect(existsSync(socketDir)).toBe(true);
    process.kill(status.pid, "SIGKILL");
    await waitFor(() => !isAlive(status.pid), 5_000, "the daemon to die");
    await waitFor(() => !isAlive(plugin.pid), 5_000, `plugin pid ${plugin.pid} to exit after its daemon died`);
    // It cleaned up the socket directory its dead host can no longer remove.
    await waitFor(() => !existsSync(socketDir), 5_000, "the plugin's socket directory to be removed");
  });
});
