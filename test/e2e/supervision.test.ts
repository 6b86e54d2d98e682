// Supervision seen from the CLI, with the real daemon and plugin processes:
// a crashed plugin is restarted and `plugins list` says so; plugins never
// outlive a daemon killed with SIGKILL.
import { cpSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliSandbox } from "../helpers/cli.js";
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
