// The plugin SDK's record of cancelled operations: a cancellation aborts
// every call of that operation in flight and any that arrives later, and
// nothing else; its reason says cancelled or out of time.
import { describe, expect, it } from "vitest";
import { CancelReason } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { OperationCancellations, cancelReason } from "../../plugins/sdk/cancellation.js";

describe("OperationCancellations", () => {
  it("aborts the calls of the cancelled operation only, and says how many there were", () => {
    const ops = new OperationCancellations();
    const a1 = ops.join("a");
    const a2 = ops.join("a");
    const b = ops.join("b");
    expect(ops.cancel("a", cancelReason(CancelReason.CANCELLED, "Ctrl-C"))).toBe(2);
    expect(a1.signal.aborted && a2.signal.aborted).toBe(true);
    expect((a1.signal.reason as DOMException).name).toBe("AbortError");
    expect(b.signal.aborted).toBe(false);
  });

  it("a call that arrives after its operation was cancelled starts aborted", () => {
    const ops = new OperationCancellations();
    expect(ops.cancel("late", cancelReason(CancelReason.DEADLINE_EXCEEDED, ""))).toBe(0);
    const call = ops.join("late");
    expect(call.signal.aborted).toBe(true);
    expect((call.signal.reason as DOMException).name).toBe("TimeoutError");
  });

  it("forgets an operation once its calls have ended, and never aborts calls without an operation id", () => {
    const ops = new OperationCancellations();
    const call = ops.join("done");
    call.release();
    call.release();
    expect(ops.cancel("done", cancelReason(CancelReason.CANCELLED, ""))).toBe(0);
    const anonymous = ops.join("");
    ops.cancel("", cancelReason(CancelReason.CANCELLED, ""));
    expect(anonymous.signal.aborted).toBe(false);
  });
});
