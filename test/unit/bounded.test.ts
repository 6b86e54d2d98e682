// mapBounded: results in order, never more than `parallelism` at work, and
// nothing started once an item has failed.
import { describe, expect, it } from "vitest";
import { mapBounded } from "../../proto/bounded.js";

describe("mapBounded", () => {
  it("keeps the items' order and at most `parallelism` at work", async () => {
    let working = 0;
    let most = 0;
    const results = await mapBounded([5, 1, 4, 2, 3], 2, async (n, i) => {
      working++;
      most = Math.max(most, working);
      // Later items finish first: the order of results must not follow finishing.
      await new Promise((r) => setImmediate(r));
      if (n % 2 === 0) await new Promise((r) => setImmediate(r));
      working--;
      return `${i}:${n}`;
    });
    expect(results).toEqual(["0:5", "1:1", "2:4", "3:2", "4:3"]);
    expect(most).toBe(2);
    expect(await mapBounded([], 4, async () => 1)).toEqual([]);
  });

  it("rejects with the first failure and starts nothing after it", async () => {
    const started: number[] = [];
    const run = mapBounded([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await new Promise((r) => setImmediate(r));
      if (n === 1) throw new Error("item 1 failed");
      return n;
    });
    await expect(run).rejects.toThrow("item 1 failed");
    // 0 and 1 ran together; 2 started when 0 finished, before 1 failed; nothing after.
    expect(started).toEqual([0, 1, 2]);
  });
});
