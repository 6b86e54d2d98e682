// Supervision with real plugin processes: restart after a crash (setup run
// again), parking a crash loop, replacing a hung (SIGSTOPped) instance found
// by the periodic health check or by a call that ran out of time, stopping
// idle instances, an in-flight call failing with PLUGIN_UNAVAILABLE naming
// the plugin, and callers that gave up before or during a start.
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import pino from "pino";
import { builtinPlugins, forRequest, PluginCatalog } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { PluginLog } from "../../daemon/supervisor/logs.js";
import { PluginSupervisor, type SetupRun, type SupervisorOptions } from "../../daemon/supervisor/supervisor.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { fixture, quiet, supervisorsStoppedAfterEach } from "../helpers/supervisors.js";
import { isAlive, waitFor } from "../helpers/processes.js";

const fast = { restart: { initialDelayMs: 50, maxDelayMs: 200, jitter: 0 }, healthIntervalMs: 0, idleStopMs: 0 } satisfies SupervisorOptions;
const supervisor = supervisorsStoppedAfterEach();

/** A crash backoff this long would outlast the test: a replacement that must not wait for one proves it did not. */
const noBackoff = { ...fast.restart, initialDelayMs: 120_000, maxDelayMs: 120_000 };

/** Runs `body` with `pid` stopped (SIGSTOP), and makes sure it is gone afterwards whatever happened. */
async function whileStopped<T>(pid: number, body: () => Promise<T>): Promise<T> {
  process.kill(pid, "SIGSTOP");
  try {
    return await body();
  } finally {
    if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }
}

function slotOf(s: PluginSupervisor) {
  const slot = s.list().find((v) => v.slot)?.slot;
  if (!slot) throw new Error("no slot");
  return slot;
}

describe("plugin supervision", () => {
  it("restarts a plugin that was killed, runs its setup again, and counts the restart", async () => {
    const s = supervisor(builtinPlugins(), fast);
    let setups = 0;
    const runs: SetupRun[] = [];
    const setup = async (i: PluginInstance, run: SetupRun) => {
      setups++;
      runs.push(run);
      await i.client(IaCProvider).configure({ configJson: encodeJson({}), workingDir: "/tmp" });
    };
    const first = await s.acquire(s.catalog.get("provider", "local"), "k", setup);
    const firstPid = first.pid as number;
    process.kill(firstPid, "SIGKILL");
    await waitFor(() => slotOf(s).state === "running" && slotOf(s).instance !== first, 10_000, "the restart");
    const slot = slotOf(s);
    expect(slot.restarts).toBe(1);
    expect(slot.lastError).toContain("was killed by SIGKILL unexpectedly");
    expect(setups).toBe(2);
    expect(runs).toEqual([{ restart: false }, { restart: true }]);
    const second = await s.acquire(s.catalog.get("provider", "local"), "k", setup);
    expect(second.pid).not.toBe(firstPid);
    expect(isAlive(second.pid as number)).toBe(true);
    expect(setups).toBe(2); // shared, not set up again
  });

  it("parks a plugin that keeps crashing, with its last stderr lines, instead of restarting it forever", async () => {
    const s = supervisor([fixture("crash-on-signal")], { ...fast, restart: { ...fast.restart, maxCrashes: 3, windowMs: 60_000 } });
    const spec = s.catalog.get("provider", "crash-on-signal");
    const configure = async (i: PluginInstance) => void (await i.client(IaCProvider).configure({ configJson: encodeJson({}), workingDir: "/tmp" }));
    await s.acquire(spec, "k", configure);
    // Each instance crashes only once the host has it running (started and
    // set up): one that died during its start would be a failed start, not a
    // crash, however slow the machine.
    for (let crash = 1; crash <= 3; crash++) {
      await waitFor(() => slotOf(s).state === "running" && slotOf(s).instance?.alive === true, 15_000, `instance ${crash} to be running`);
      const pid = slotOf(s).instance?.pid as number;
      process.kill(pid, "SIGUSR2");
      await waitFor(() => slotOf(s).state !== "running", 15_000, `the host to see instance ${crash} (pid ${pid}) crash`);
    }
    const slot = slotOf(s);
    expect(slot.state).toBe("parked");
    expect(slot.restarts).toBe(2);
    expect(slot.alive).toBe(false);
    const err = await rejectionOf(s.acquire(spec, "k", async () => {}));
    expect(err.code).toBe(ErrorCode.PLUGIN_UNAVAILABLE);
    expect(err.message).toContain('plugin "crash-on-signal" is parked');
    expect(err.message).toContain("exited with code 7");
    expect(err.message).toContain("fixture: crashing on purpose");
  });

  it("kills a plugin that stops answering periodic health checks and starts a fresh one at once; a call waiting on it fails naming the reason", async () => {
    const s = supervisor(builtinPlugins(), { ...fast, restart: noBackoff, healthIntervalMs: 150, healthFailuresToKill: 2 });
    const first = await s.acquire(s.catalog.get("provider", "local"), "k", async () => {});
    const pid = first.pid as number;
    await whileStopped(pid, async () => {
      // No deadline of its own: only the health check can end this call.
      const err = await rejectionOf(first.client(IaCProvider).getSchema({}));
      expect(err.code).toBe(ErrorCode.PLUGIN_UNAVAILABLE);
      expect(err.message).toContain(`plugin "local" (pid ${pid}): IaCProvider.getSchema failed: plugin unavailable (did not answer a health check 2 times in a row`);
      await waitFor(() => !isAlive(pid), 10_000, "the hung plugin to be killed");
    });
    const second = await s.acquire(s.catalog.get("provider", "local"), "k", async () => {});
    expect(second.pid).not.toBe(pid);
    const slot = slotOf(s);
    expect(slot.restarts).toBe(1);
    expect(slot.lastError).toBe("did not answer a health check 2 times in a row (1 s each, every 0.15 s); killed and replaced");
    expect(second.healthy).toBe(true);
  });

  it("a call that runs out of time on a hung plugin names it; the next acquire checks it, kills it and gets a fresh one without a backoff", async () => {
    const s = supervisor(builtinPlugins(), { ...fast, restart: noBackoff });
    const runs: SetupRun[] = [];
    const setup = async (_: PluginInstance, run: SetupRun) => void runs.push(run);
    const first = await s.acquire(s.catalog.get("provider", "local"), "k", setup);
    const pid = first.pid as number;
    const second = await whileStopped(pid, async () => {
      const err = await rejectionOf(first.client(IaCProvider).getSchema({}, { deadline: new Date(Date.now() + 300) }));
      expect(err.code).toBe(ErrorCode.DEADLINE_EXCEEDED);
      expect(err.message).toMatch(new RegExp(`^plugin "local" \\(pid ${pid}\\) did not answer IaCProvider\\.getSchema in time: Deadline exceeded after [0-9.]+s$`));
      expect(first.suspect).toBe(true);
      const fresh = await s.acquire(s.catalog.get("provider", "local"), "k", setup);
      await waitFor(() => !isAlive(pid), 5_000, "the hung plugin to be killed");
      return fresh;
    });
    expect(second.pid).not.toBe(pid);
    expect(second.alive && second.healthy && !second.suspect).toBe(true);
    const slot = slotOf(s);
    expect(slot.restarts).toBe(1);
    expect(slot.lastError).toBe("did not answer a health check within 1 s after a call to it ran out of time; killed and replaced");
    expect(runs).toEqual([{ restart: false }, { restart: true }]);
  });

  it("a plugin that answers its check after a call ran out of time is kept", async () => {
    const s = supervisor([fixture("slow-provider")], fast);
    const first = await s.acquire(s.catalog.get("provider", "slow-provider"), "k", async (i) => {
      await i.client(IaCProvider).configure({ configJson: encodeJson({}), workingDir: "/tmp" });
    });
    // Slow, not hung: the read outlasts its deadline while health checks are answered.
    const read = first.client(IaCProvider).read(
      { resource: { name: "a", type: "slow.thing" }, prior: { providerId: "a", configJson: encodeJson({}), outputsJson: encodeJson({}) } },
      { deadline: new Date(Date.now() + 200) },
    );
    expect((await rejectionOf(read)).code).toBe(ErrorCode.DEADLINE_EXCEEDED);
    const again = await s.acquire(s.catalog.get("provider", "slow-provider"), "k", async () => {});
    expect(again).toBe(first);
    expect(first.suspect).toBe(false);
    expect(slotOf(s).restarts).toBe(0);
  });

  it("an instance whose last periodic health check failed is checked before it is handed out, and replaced", async () => {
    // Periodic checks alone would take 1000 failures to kill it.
    const s = supervisor(builtinPlugins(), { ...fast, restart: noBackoff, healthIntervalMs: 100, healthFailuresToKill: 1000 });
    const first = await s.acquire(s.catalog.get("provider", "local"), "k", async () => {});
    const pid = first.pid as number;
    const second = await whileStopped(pid, async () => {
      await waitFor(() => !first.healthy, 10_000, "a failed health check");
      return s.acquire(s.catalog.get("provider", "local"), "k", async () => {});
    });
    expect(second.pid).not.toBe(pid);
    expect(slotOf(s).lastError).toBe("did not answer a health check within 1 s after its last health check failed; killed and replaced");
  });

  it("hands out an instance being (re)started only once its setup ran, never between its handshake and its Configure", async () => {
    const s = supervisor(builtinPlugins(), fast);
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let configured = false;
    const setup = async (i: PluginInstance) => {
      await gate;
      await i.client(IaCProvider).configure({ configJson: encodeJson({}), workingDir: "/tmp" });
      configured = true;
    };
    const spec = s.catalog.get("provider", "local");
    const first = s.acquire(spec, "k", setup);
    // Running (its handshake and health check done) while its setup waits at the gate.
    await waitFor(() => slotOf(s).instance?.alive === true, 10_000, "the plugin to be running");
    const second = s.acquire(spec, "k", setup).then((instance) => ({ instance, configuredThen: configured }));
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(b.instance).toBe(a);
    expect(b.configuredThen).toBe(true);
  });

  it("keeps a plugin that misses health checks while it answers calls: busy, not hung", async () => {
    // Each read keeps the plugin's event loop busy for 600 ms, so checks sent
    // meanwhile (200 ms each, every 100 ms) miss; three misses in a row would
    // kill a plugin that answered nothing in between. A read's answer may come
    // half a second late (a loaded machine delays this process's timers and
    // sockets alike, and a timer can fire before an answer already there)
    // before a plugin that answers every call could be counted as hung.
    const lines: string[] = [];
    const logs = new PassThrough().on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter(Boolean)));
    const s = new PluginSupervisor(new PluginCatalog([fixture("busy-provider", { env: { BUSY_MS: "600" } })]), pino({ level: "warn" }, logs), {
      ...fast,
      restart: noBackoff,
      healthIntervalMs: 100,
      healthProbeTimeoutMs: 200,
      healthFailuresToKill: 3,
    });
    try {
      const instance = await s.acquire(s.catalog.get("provider", "busy-provider"), "k", async (i) => {
        await i.client(IaCProvider).configure({ configJson: encodeJson({}), workingDir: "/tmp" });
      });
      const kept = () => lines.filter((l) => l.includes("the plugin is answering calls: kept")).length;
      const read = () =>
        instance.client(IaCProvider).read({ resource: { name: "a", type: "busy.thing" }, prior: { providerId: "a", configJson: encodeJson({}), outputsJson: encodeJson({}) } });
      let reads = 0;
      while (kept() < 4) {
        expect(reads, "reads before four checks missed while calls were answered").toBeLessThan(200);
        expect((await read()).found).toBe(true);
        reads++;
      }
      expect(instance.alive).toBe(true);
      expect(slotOf(s).restarts).toBe(0);
      expect(lines.join("\n")).not.toContain("killed and replaced");
    } finally {
      await s.stopAll();
    }
  });

  it("stops an idle instance and starts it again on demand", async () => {
    const s = supervisor(builtinPlugins(), { ...fast, idleStopMs: 300 });
    const first = await s.acquire(s.catalog.get("provider", "local"), "k", async () => {});
    const pid = first.pid as number;
    await waitFor(() => slotOf(s).state === "idle", 10_000, "the idle stop");
    await waitFor(() => !isAlive(pid), 5_000, "the idle plugin to exit");
    expect(slotOf(s).restarts).toBe(0); // an idle stop is not a crash
    const again = await s.acquire(s.catalog.get("provider", "local"), "k", async () => {});
    expect(again.pid).not.toBe(pid);
    expect(slotOf(s).state).toBe("running");
  });

  it("gives each environment a request gives a plugin an instance of its own, reused for the same values", async () => {
    const s = supervisor(builtinPlugins(), fast);
    const local = s.catalog.get("provider", "local");
    const step = (token: string) => s.acquire(forRequest(local, ["STEP_TOKEN"], { STEP_TOKEN: token, OTHER: "never given" }), "k", async () => {});
    const first = await step("first-value");
    const second = await step("second-value");
    expect(second.pid).not.toBe(first.pid);
    expect(await step("first-value")).toBe(first);
    const keys = s.list().flatMap((v) => (v.slot ? [v.slot.key] : []));
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(2);
    for (const key of keys) expect(key).toMatch(/^[0-9a-f]{64}$/);
  });

  it("forgets an idle instance started with a request's environment, values and all", async () => {
    const s = supervisor(builtinPlugins(), { ...fast, idleStopMs: 300 });
    const local = s.catalog.get("provider", "local");
    const instance = await s.acquire(forRequest(local, ["STEP_TOKEN"], { STEP_TOKEN: "value" }), "k", async () => {});
    await waitFor(() => !s.list().some((v) => v.slot), 10_000, "the idle slot to be forgotten");
    expect(isAlive(instance.pid as number)).toBe(false);
    expect(s.list().filter((v) => v.spec.name === "local")).toEqual([{ spec: local, slot: undefined }]);
  });

  it("fails a call in flight when its plugin dies, with PLUGIN_UNAVAILABLE naming the plugin", async () => {
    const s = supervisor([fixture("slow-provider")], fast);
    const instance = await s.acquire(s.catalog.get("provider", "slow-provider"), "k", async (i) => {
      await i.client(IaCProvider).configure({ configJson: encodeJson({}), workingDir: "/tmp" });
    });
    const call = instance.client(IaCProvider).read({
      resource: { name: "a", type: "slow.thing" },
      prior: { providerId: "a", configJson: encodeJson({}), outputsJson: encodeJson({}) },
    });
    setTimeout(() => process.kill(instance.pid as number, "SIGKILL"), 200);
    const err = await rejectionOf(call);
    expect(err.code).toBe(ErrorCode.PLUGIN_UNAVAILABLE);
    expect(err.message).toContain('plugin "slow-provider"');
    expect(err.message).toContain("IaCProvider.read failed: plugin unavailable (was killed by SIGKILL unexpectedly)");
  });

  it("an acquire whose caller has already given up starts nothing", async () => {
    const s = supervisor(builtinPlugins(), fast);
    const expired = AbortSignal.abort(new WfctlError(ErrorCode.DEADLINE_EXCEEDED, "the operation's deadline passed"));
    const err = await rejectionOf(s.acquire(s.catalog.get("provider", "local"), "k", async () => {}, expired));
    expect(err.code).toBe(ErrorCode.DEADLINE_EXCEEDED);
    expect(s.list().filter((v) => v.slot)).toEqual([]);
    expect(s.runningCount()).toBe(0);
  });

  it("a start every caller gave up on fails without an unhandled rejection; the next acquire starts it again", async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", record);
    try {
      const s = supervisor(builtinPlugins(), fast);
      const local = s.catalog.get("provider", "local");
      const controller = new AbortController();
      const failingSetup = async () => {
        controller.abort(new WfctlError(ErrorCode.DEADLINE_EXCEEDED, "the operation's deadline passed"));
        throw new WfctlError(ErrorCode.PROVIDER_ERROR, "setup failed on purpose");
      };
      const err = await rejectionOf(s.acquire(local, "k", failingSetup, controller.signal));
      expect(err.code).toBe(ErrorCode.DEADLINE_EXCEEDED);
      await waitFor(() => slotOf(s).state === "failed", 10_000, "the start to fail");
      // Rejections are reported once the microtask queue drains.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(slotOf(s).lastError).toBe("setup failed on purpose");
      const again = await s.acquire(local, "k", async () => {});
      expect(again.alive).toBe(true);
    } finally {
      process.off("unhandledRejection", record);
    }
  });

  it("a plugin output pipe that fails ends that log, never the process", async () => {
    const log = new PluginLog(quiet);
    const stream = new PassThrough();
    log.follow(stream, "stderr");
    stream.write("a line\n");
    const closed = new Promise((resolve) => stream.once("close", resolve));
    stream.destroy(new Error("EPIPE: broken pipe"));
    await closed;
    expect(log.recent()).toEqual(["a line"]);
  });
});
