import { describe, expect, it } from "vitest";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { findCycle, topologicalOrder } from "../../daemon/engine/graph.js";
import { type Task, runTasks } from "../../daemon/engine/scheduler.js";

describe("dependency graph", () => {
  it("orders every node after what it depends on, keeping input order otherwise", () => {
    const order = topologicalOrder([
      { name: "file", dependsOn: ["dir"] },
      { name: "dir", dependsOn: [] },
      { name: "other", dependsOn: [] },
      { name: "deep", dependsOn: ["file", "other"] },
    ]);
    expect(order).toEqual(["dir", "other", "file", "deep"]);
  });

  it("finds a cycle and names it from start to start", () => {
    expect(findCycle([{ name: "a", dependsOn: ["b"] }, { name: "b", dependsOn: ["c"] }, { name: "c", dependsOn: ["a"] }])).toEqual(["a", "b", "c", "a"]);
    expect(findCycle([{ name: "a", dependsOn: ["b"] }, { name: "b", dependsOn: [] }])).toBeUndefined();
  });
});

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new WfctlError(ErrorCode.CANCELLED, "cancelled"));
    });
  });

describe("task scheduler", () => {
  it("runs a task only after its dependencies succeeded", async () => {
    const log: string[] = [];
    const task = (id: string, after: string[] = []): Task => ({
      id,
      after,
      run: async () => {
        log.push(`start ${id}`);
        await sleep(5);
        log.push(`end ${id}`);
      },
    });
    const results = await runTasks([task("c", ["b"]), task("b", ["a"]), task("a")], { parallelism: 10, signal: new AbortController().signal });
    expect(log).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
    expect([...results.values()].every((r) => r.outcome === "succeeded")).toBe(true);
  });

  it("never runs more tasks at once than the parallelism allows", async () => {
    let running = 0;
    let peak = 0;
    const tasks: Task[] = Array.from({ length: 12 }, (_, i) => ({
      id: `t${i}`,
      after: [],
      run: async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(10);
        running--;
      },
    }));
    await runTasks(tasks, { parallelism: 3, signal: new AbortController().signal });
    expect(peak).toBe(3);
  });

  it("skips the dependents of a failed task and still runs independent ones", async () => {
    const results = await runTasks(
      [
        { id: "bad", after: [], run: async () => Promise.reject(new WfctlError(ErrorCode.PROVIDER_ERROR, "boom")) },
        { id: "child", after: ["bad"], run: async () => {} },
        { id: "grandchild", after: ["child"], run: async () => {} },
        { id: "free", after: [], run: async () => {} },
      ],
      { parallelism: 2, signal: new AbortController().signal },
    );
    expect(results.get("bad")).toMatchObject({ outcome: "failed", error: { code: ErrorCode.PROVIDER_ERROR } });
    expect(results.get("child")).toMatchObject({ outcome: "skipped" });
    expect(results.get("grandchild")).toMatchObject({ outcome: "skipped" });
    expect(results.get("free")).toMatchObject({ outcome: "succeeded" });
  });

  it("on cancellation starts nothing new, lets in-flight tasks settle, and skips the rest", async () => {
    const controller = new AbortController();
    const started: string[] = [];
    const tasks: Task[] = ["a", "b", "c", "d"].map((id) => ({
      id,
      after: [],
      run: async (signal) => {
        started.push(id);
        // Abort once both slots are taken (after the scheduler's synchronous start loop).
        if (id === "a") queueMicrotask(() => controller.abort());
        await sleep(20, signal);
      },
    }));
    const results = await runTasks(tasks, { parallelism: 2, signal: controller.signal });
    expect(started).toEqual(["a", "b"]);
    expect(results.get("a")?.outcome).toBe("failed");
    expect(results.get("b")?.outcome).toBe("failed");
    expect(results.get("c")).toMatchObject({ outcome: "skipped", reason: "the operation was stopped" });
    expect(results.get("d")?.outcome).toBe("skipped");
  });
});
