// A plugin runs in a process group of its own, and what it starts goes with
// it: stopping it, killing it (from outside, or as a hung plugin being
// replaced), and stopping the daemon leave none of its children alive — a
// child that ignores SIGTERM included. The fixture plugin starts `sleep 1000`
// and a Node.js child that ignores SIGTERM, and writes their pids to a file.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import type { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS, tempDir } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";
import { fixture, supervisorsStoppedAfterEach } from "../helpers/supervisors.js";

interface Started {
  plugin: number;
  children: number[];
}

/** What the plugin with pid `plugin` wrote to `file`, once it has (every line, when `plugin` is undefined). */
async function startedIn(file: string, plugin?: number): Promise<Started[]> {
  const lines = (): Started[] =>
    existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Started) : [];
  await waitFor(() => lines().some((l) => plugin === undefined || l.plugin === plugin), 15_000, `plugin ${plugin ?? ""} to report its children in ${file}`);
  return lines();
}

/** Waits (bounded) until none of `pids` is alive; fails naming those still alive. */
async function allGone(pids: readonly number[], what: string): Promise<void> {
  try {
    await waitFor(() => pids.every((pid) => !isAlive(pid)), 10_000, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}: still alive: ${pids.filter(isAlive).join(", ")}`);
  }
}

const noSetup = async () => {};
const fast = { restart: { initialDelayMs: 50, maxDelayMs: 200, jitter: 0 }, healthIntervalMs: 0, idleStopMs: 0 };

describe("a plugin's children, through the supervisor", () => {
  const supervisor = supervisorsStoppedAfterEach();
  let dir: ReturnType<typeof tempDir>;
  let pidFile: string;
  let s: PluginSupervisor;
  beforeEach(() => {
    dir = tempDir("wft-pg-");
    pidFile = join(dir.path, "pids.jsonl");
    s = supervisor([fixture("spawns-grandchild", { env: { GRANDCHILD_PID_FILE: pidFile } })], fast);
  });
  afterEach(() => dir.cleanup());

  const start = async (): Promise<{ instance: PluginInstance; children: number[] }> => {
    const instance = await s.acquire(s.catalog.get("provider", "spawns-grandchild"), "k", noSetup);
    const line = (await startedIn(pidFile, instance.pid)).find((l) => l.plugin === instance.pid) as Started;
    expect(line.children).toHaveLength(2);
    for (const child of line.children) expect(isAlive(child), `child ${child} alive`).toBe(true);
    return { instance, children: line.children };
  };

  it("stopping a plugin stops every process it started, one that ignores SIGTERM included", async () => {
    const { instance, children } = await start();
    await instance.stop();
    expect(isAlive(instance.pid as number)).toBe(false);
    await allGone(children, "the plugin's children to be gone after it was stopped");
  });

  it("a plugin killed from outside takes its children with it, and its restart starts fresh ones", async () => {
    const { instance, children } = await start();
    process.kill(instance.pid as number, "SIGKILL");
    await allGone(children, "the killed plugin's children to be gone");
    const again = await start();
    expect(again.instance.pid).not.toBe(instance.pid);
    await s.stopAll();
    await allGone(again.children, "the restarted plugin's children to be gone after stopAll");
  });

  it("a hung plugin killed to be replaced takes its children with it", async () => {
    const { instance, children } = await start();
    process.kill(instance.pid as number, "SIGSTOP");
    instance.kill("test: replaced as hung");
    await instance.waitForExit();
    await allGone(children, "the hung plugin's children to be gone");
  });
});

describe("a plugin's children, through the daemon", () => {
  const sandbox = cliSandbox("wft-pgd-");

  it("plugins lock, a plugin killed and restarted, and daemon stop each leave no child of a plugin alive", async () => {
    const dir = sandbox.dir;
    const pidFile = join(dir, "pids.jsonl");
    const config = join(dir, "infra.yaml");
    writeFileSync(join(dir, "gc-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "spawns-grandchild.mjs"))};\n`);
    writeFileSync(
      join(dir, "wfctl.yaml"),
      `plugins:\n  - name: spawns-grandchild\n    kind: provider\n    source: ./gc-plugin.mjs\n    env: { GRANDCHILD_PID_FILE: ${JSON.stringify(pidFile)} }\n`,
    );
    writeFileSync(
      config,
      "modules:\n  - name: gc\n    type: iac.provider\n    config: { provider: spawns-grandchild }\n" +
        "  - name: thing\n    type: grandchild.thing\n    provider: gc\n    config: { label: x }\n",
    );

    // plugins lock starts the plugin once, and stops it.
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", config]), 0);
    const [probe] = await startedIn(pidFile);
    await allGone([probe?.plugin as number, ...(probe?.children ?? [])], "the lock probe and its children to be gone");

    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config]), 0);
    const first = (await startedIn(pidFile)).at(-1) as Started;
    expect(first.plugin).not.toBe(probe?.plugin);
    process.kill(first.plugin, "SIGKILL");
    await allGone(first.children, "the killed plugin's children to be gone");

    // The next plan uses the restarted plugin (the daemon restarts it after the crash, or starts it on demand).
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config]), 0);
    const second = (await startedIn(pidFile)).at(-1) as Started;
    expect(second.plugin).not.toBe(first.plugin);
    for (const child of second.children) expect(isAlive(child)).toBe(true);

    expectExit(await sandbox.cli.run(["daemon", "stop"]), 0);
    await allGone([second.plugin, ...second.children], "the plugin and its children to be gone after daemon stop");
  });
});
