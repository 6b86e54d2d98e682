// How the daemon cuts the calls waiting for a provider into batch calls:
// at most BATCH_LIMITS.items items and about BATCH_LIMITS.bytes each, and
// only calls that share their operation's signal and metadata together.
import { describe, expect, it } from "vitest";
import { BATCH_LIMITS, batchesOf } from "../../daemon/engine/provider-batch.js";
import type { CallOptions } from "../../proto/grpc.js";

const call = (id: number, options: CallOptions, weight = 1) => ({ request: { id, weight }, options });
const sizes = (batches: { request: { id: number } }[][]) => batches.map((b) => b.length);

describe("batchesOf", () => {
  it("cuts a long queue at the item limit, keeping the order", () => {
    const signal = new AbortController().signal;
    const options = { signal, metadata: { "wfctl-operation-id": "a" } };
    const queue = Array.from({ length: BATCH_LIMITS.items * 2 + 10 }, (_, i) => call(i, options));
    const batches = batchesOf(queue, () => 1);
    expect(sizes(batches)).toEqual([BATCH_LIMITS.items, BATCH_LIMITS.items, 10]);
    expect(batches.flat().map((w) => w.request.id)).toEqual(queue.map((w) => w.request.id));
  });

  it("cuts at the byte limit, and an item heavier than it goes alone", () => {
    const options = { metadata: {} };
    const third = Math.floor(BATCH_LIMITS.bytes / 3);
    const queue = [call(0, options, third), call(1, options, third), call(2, options, third), call(3, options, third), call(4, options, BATCH_LIMITS.bytes * 2), call(5, options, 1)];
    expect(sizes(batchesOf(queue, (r) => r.weight))).toEqual([3, 1, 1, 1]);
  });

  it("never puts calls of another signal or other metadata in one batch", () => {
    const [one, two] = [new AbortController().signal, new AbortController().signal];
    const queue = [
      call(0, { signal: one, metadata: { "wfctl-operation-id": "a" } }),
      call(1, { signal: two, metadata: { "wfctl-operation-id": "a" } }),
      call(2, { signal: one, metadata: { "wfctl-operation-id": "b" } }),
      call(3, { signal: one, metadata: { "wfctl-operation-id": "a" } }),
      call(4, { signal: one, metadata: { "wfctl-operation-id": "a", traceparent: "x" } }),
    ];
    expect(batchesOf(queue, () => 1).map((b) => b.map((w) => w.request.id))).toEqual([[0, 3], [1], [2], [4]]);
  });
});
