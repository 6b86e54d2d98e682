// Supervision with real plugin processes: restart after a crash (setup run
// again), parking a crash loop, killing an instance that stops answering
// health checks, stopping idle instances, and an in-flight call failing with
// PLUGIN_UNAVAILABLE naming the plugin.
import { describe, expect, it } from "vitest";
import { builtinPlugins } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { PluginSupervisor, type SupervisorOptions } from "../../daemon/supervisor/supervisor.js";
import { ErrorCode } from "../../proto/errors.js";
import { IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { fixture, supervisorsStoppedAfterEach } from "../helpers/supervisors.js";
import { isAlive, waitFor } from "../helpers/processes.js";

const fast = { restart: { initialDelayMs: 50, maxDelayMs: 200, jitter: 0 }, healthIntervalMs: 0, idleStopMs: 0 } satisfies SupervisorOptions;
const supervisor = supervisorsStoppedAfterEach();

function slotOf(s: PluginSupervisor) {
  const slot = s.list().find((v) => v.slot)?.slot;
  if (!slot) throw new Error("no slot");
  return slot;
}

describe("plugin supervision", () => {
  it("restarts a plugin that was killed, runs its setup again, and counts the restart", async () => {
    const s = supervisor(builtinPlugins(), fast);
    let setups = 0;
    const setup = async (i: PluginInstance) => {
      setups++;
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
    const second = await s.acquire(s.catalog.get("provider", "local"), "k", setup);
    expect(second.pid).not.toBe(firstPid);
    expect(isAlive(second.pid as number)).toBe(true);
    expect(setups).toBe(2); // shared, not set up again
  });

  it("parks a plugin that keeps crashing, with its last stderr lines, instead of restarting it forever", async () => {
    const s = supervisor([fixture("crash-after", { env: { CRASH_AFTER_MS: "150" } })], { ...fast, restart: { ...fast.restart, maxCrashes: 3, windowMs: 60_000 } });
    await s.acquire(s.catalog.get("provider", "crash-after"), "k", async () => {});
    await waitFor(() => slotOf(s).state === "parked", 15_000, "the plugin to be parked");
    const slot = slotOf(s);
    expect(slot.restarts).toBe(2);
    expect(slot.alive).toBe(false);
    const err = await rejectionOf(s.acquire(s.catalog.get("provider", "crash-after"), "k", async () => {}));
    expect(err.code).toBe(ErrorCode.PLUGIN_UNAVAILABLE);
    expect(err.message).toContain('plugin "crash-after" is parked');
    expect(err.message).toContain("exited with code 7");
    expect(err.message).toContain("fixture: crashing on purpose");
  });

  it("kills and restarts an instance that stops answering health checks", async () => {
    const s = supervisor(builtinPlugins(), { ...fast, healthIntervalMs: 150, healthFailuresToKill: 2 });
    const first = await s.acquire(s.catalog.get("provider", "local"), "k", async () => {});
    const pid = first.pid as number;
    process.kill(pid, "SIGSTOP"); // hung: alive, but answers nothing
    try {
      await waitFor(() => !isAlive(pid), 15_000, "the hung plugin to be killed");
    } finally {
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
    await waitFor(() => slotOf(s).state === "running" && slotOf(s).instance !== first, 10_000, "the restart");
    expect(slotOf(s).restarts).toBe(1);
    expect(slotOf(s).instance?.healthy).toBe(true);
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
});
