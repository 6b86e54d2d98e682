// groupCommit (the filesystem store's directory syncs): a call is covered by
// a run that started after it; calls during a run share the next one.
import { describe, expect, it } from "vitest";
import { groupCommit } from "../../daemon/state/atomic-files.js";

/** A run whose each start is recorded and whose end the test decides. */
function controlledRun() {
  const started: (() => void)[] = [];
  const run = () => new Promise<void>((resolve) => started.push(resolve));
  return { run, started };
}

const settled = (p: Promise<unknown>) => {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  return () => done;
};

const turn = () => new Promise((r) => setImmediate(r));

describe("groupCommit", () => {
  it("calls before a run starts share it; calls during it share one more, which starts only after it", async () => {
    const { run, started } = controlledRun();
    const commit = groupCommit(run);
    const a = settled(commit());
    const b = settled(commit());
    await turn();
    expect(started).toHaveLength(1);
    // c and d come while the first run is in flight: they wait for a run of their own.
    const c = settled(commit());
    const d = settled(commit());
    await turn();
    expect(started).toHaveLength(1);
    started[0]?.();
    await turn();
    expect([a(), b(), c(), d()]).toEqual([true, true, false, false]);
    expect(started).toHaveLength(2);
    started[1]?.();
    await turn();
    expect([c(), d()]).toEqual([true, true]);
    // Nothing waiting: a later call starts a run at once.
    const e = settled(commit());
    await turn();
    expect(started).toHaveLength(3);
    started[2]?.();
    await turn();
    expect(e()).toBe(true);
  });

  it("a failed run fails exactly its callers, and the next run still happens", async () => {
    let fail = true;
    let runs = 0;
    const commit = groupCommit(async () => {
      runs++;
      if (fail) throw new Error("sync failed");
    });
    await expect(Promise.all([commit(), commit()])).rejects.toThrow("sync failed");
    fail = false;
    await expect(commit()).resolves.toBeUndefined();
    expect(runs).toBe(2);
  });
});
