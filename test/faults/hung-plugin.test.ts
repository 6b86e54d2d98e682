// Fault: a hung plugin. The `local` provider of a warm daemon is stopped with
// SIGSTOP: alive, holding its socket, answering nothing.
//
// Under --timeout (issue 16, acceptance check 4): the plan returns by its
// deadline (exit 124) naming the plugin, and the next plan gets a healthy
// fresh plugin without waiting for the hung one. That daemon runs with its
// periodic health check 10 minutes apart, so the replacement can only come
// from the call that ran out of time (the restart reason says which).
//
// Without --timeout: the periodic health check (every 2 s by default) kills
// the hung plugin, and the plan waiting on it ends promptly, failing with
// PLUGIN_UNAVAILABLE naming the plugin (or, when a failed check came before
// the plan asked for the plugin, succeeding on a fresh one).
import { spawn } from "node:child_process";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Cli, cliSandbox, expectExit } from "../helpers/cli.js";
import { QUICKSTART, WFCTLD } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";

interface PluginJson {
  name: string;
  pid: number;
  state: string;
  restarts: number;
  healthy: boolean;
  last_error?: string;
}

/** The running (or last) instance of the `local` provider, as `plugins list --json` shows it. */
async function localPlugin(cli: Cli): Promise<PluginJson> {
  const { value } = await cli.json<{ plugins: PluginJson[] }>(["plugins", "list"]);
  const found = value.plugins.find((p) => p.name === "local" && p.state !== "not_started");
  if (!found) throw new Error(`no local instance in ${JSON.stringify(value)}`);
  return found;
}

async function daemonPid(cli: Cli): Promise<number> {
  const { result, value } = await cli.json<{ pid: number }>(["daemon", "status"]);
  expectExit(result, 0);
  return value.pid;
}

/** Runs `body` with `pid` stopped; the stopped process never outlives the test. */
async function whileStopped(pid: number, body: () => Promise<void>): Promise<void> {
  process.kill(pid, "SIGSTOP");
  try {
    await body();
  } finally {
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }
}

/** Copies the quickstart into `dir` and warms the daemon's `local` plugin with a plan. */
async function warmQuickstart(cli: Cli, dir: string): Promise<string> {
  const config = join(dir, "infra.yaml");
  cpSync(join(QUICKSTART, "infra.yaml"), config);
  expectExit(await cli.run(["infra", "plan", "-c", config]), 0);
  return config;
}

describe("a SIGSTOPped plugin under --timeout", () => {
  const sandbox = cliSandbox("wft-hung-");

  it("the plan returns by its deadline naming the plugin; the next plan gets a fresh plugin at once", async () => {
    const daemon = spawn(process.execPath, [WFCTLD, "--socket", sandbox.cli.socket, "--plugin-health-interval", "10m"], { stdio: "ignore" });
    const daemonExit = new Promise((resolve) => daemon.once("exit", resolve));
    try {
      await waitFor(async () => (await sandbox.cli.run(["daemon", "status"])).code === 0, 15_000, "wfctld to serve");
      const config = await warmQuickstart(sandbox.cli, sandbox.dir);
      const hung = await localPlugin(sandbox.cli);
      expect(hung).toMatchObject({ state: "running", healthy: true, restarts: 0 });

      await whileStopped(hung.pid, async () => {
        const timedOut = await sandbox.cli.run(["infra", "plan", "-c", config, "--timeout", "3s"]);
        expectExit(timedOut, 124);
        // The call that ran out of time: a batch of the plan's calls (IaCBatchProvider) or a single one.
        expect(timedOut.stderr).toMatch(new RegExp(`plugin "local" \\(pid ${hung.pid}\\) did not answer IaC(Batch)?Provider\\.\\w+ in time`));

        const next = await sandbox.cli.run(["infra", "plan", "-c", config]);
        expectExit(next, 0);
        expect(next.stdout).toContain("Plan: 3 to create");
        await waitFor(() => !isAlive(hung.pid), 5_000, `the hung plugin (pid ${hung.pid}) to be killed`);
      });

      const fresh = await localPlugin(sandbox.cli);
      expect(fresh).toMatchObject({ state: "running", healthy: true, restarts: 1 });
      expect(fresh.pid).not.toBe(hung.pid);
      expect(isAlive(fresh.pid)).toBe(true);
      // Replaced because a call ran out of time on it, not by the periodic check.
      const { value: inspected } = await sandbox.cli.json<{ plugins: PluginJson[] }>(["plugins", "inspect", "local"]);
      expect(inspected.plugins[0]?.last_error).toBe("did not answer a health check within 1 s after a call to it ran out of time; killed and replaced");
      expect(await daemonPid(sandbox.cli)).toBe(daemon.pid);
    } finally {
      await sandbox.cli.run(["daemon", "stop"]);
      await daemonExit;
    }
  });
});

describe("a SIGSTOPped plugin without --timeout", () => {
  const sandbox = cliSandbox("wft-hung2-");

  it("the periodic health check kills it; the waiting plan ends promptly, naming the plugin, and the next plan works", async () => {
    const config = await warmQuickstart(sandbox.cli, sandbox.dir);
    const pid = await daemonPid(sandbox.cli);
    const hung = await localPlugin(sandbox.cli);

    await whileStopped(hung.pid, async () => {
      const waiting = await sandbox.cli.run(["infra", "plan", "-c", config]);
      if (waiting.code === 0) {
        // A failed periodic check came first: the plan's own check replaced the plugin.
        expect((await localPlugin(sandbox.cli)).last_error).toBe("did not answer a health check within 1 s after its last health check failed; killed and replaced");
      } else {
        expectExit(waiting, 4);
        expect(waiting.stderr).toMatch(
          new RegExp(`plugin "local" \\(pid ${hung.pid}\\): IaC(Batch)?Provider\\.plan(Resources)? failed: plugin unavailable \\(did not answer a health check 3 times in a row`),
        );
      }
      await waitFor(() => !isAlive(hung.pid), 5_000, `the hung plugin (pid ${hung.pid}) to be killed`);
    });

    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config]), 0);
    const fresh = await localPlugin(sandbox.cli);
    expect(fresh).toMatchObject({ state: "running", healthy: true, restarts: 1 });
    expect(fresh.pid).not.toBe(hung.pid);
    expect(await daemonPid(sandbox.cli)).toBe(pid);
  });
});
