import { describe, expect, it } from "vitest";
import { CrashHistory, DEFAULT_RESTART_POLICY, restartDelay } from "../../daemon/supervisor/restart.js";

const policy = { ...DEFAULT_RESTART_POLICY, initialDelayMs: 100, multiplier: 2, maxDelayMs: 1000, jitter: 0.2, maxCrashes: 4, windowMs: 10_000, stableAfterMs: 5_000 };

describe("restart policy", () => {
  it("backs off exponentially, bounded, within the jitter", () => {
    const middle = () => 0.5; // no jitter
    expect([1, 2, 3, 4, 5, 6].map((n) => restartDelay(n, policy, middle))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(restartDelay(1, policy, () => 0)).toBe(80);
    expect(restartDelay(1, policy, () => 1)).toBe(120);
    expect(restartDelay(9, policy, () => 1)).toBe(1000); // jitter never exceeds the bound
    for (let i = 0; i < 200; i++) {
      const d = restartDelay(3, policy);
      expect(d).toBeGreaterThanOrEqual(320);
      expect(d).toBeLessThanOrEqual(480);
    }
  });

  it("parks after too many crashes within the window, and forgets crashes older than it", () => {
    const history = new CrashHistory(policy);
    expect(history.record(0, 10)).toMatchObject({ action: "restart" });
    expect(history.record(1_000, 10)).toMatchObject({ action: "restart" });
    expect(history.record(2_000, 10)).toMatchObject({ action: "restart" });
    expect(history.record(3_000, 10)).toEqual({ action: "park", crashes: 4 });

    const spaced = new CrashHistory(policy);
    for (let t = 0; t < 100_000; t += 5_000) expect(spaced.record(t, 10).action).toBe("restart");
  });

  it("starts the backoff over after an instance that ran for a while", () => {
    const history = new CrashHistory({ ...policy, jitter: 0 });
    expect(history.record(0, 10)).toEqual({ action: "restart", delayMs: 100 });
    expect(history.record(100, 10)).toEqual({ action: "restart", delayMs: 200 });
    expect(history.record(20_000, 6_000)).toEqual({ action: "restart", delayMs: 100 });
  });
});
