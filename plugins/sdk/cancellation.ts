// Cancelling an operation without losing its answers: the host's
// PluginController.CancelOperation aborts the context of every call of that
// operation (in flight, or arriving within a while after), and each call
// still answers, so the host learns what its changes did.
import { CancelReason } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";

/** How long a cancelled operation's later calls start already aborted. */
const REMEMBER_MS = 10 * 60_000;
/** At most this many cancelled operations are remembered. */
const REMEMBER_MAX = 1024;

interface LiveOperation {
  controller: AbortController;
  calls: number;
}

/** The reason a cancelled call's signal carries: the same names the SDK maps to CANCELLED and DEADLINE_EXCEEDED. */
export function cancelReason(reason: CancelReason, message: string): DOMException {
  const deadline = reason === CancelReason.DEADLINE_EXCEEDED;
  return new DOMException(message || (deadline ? "the operation's deadline passed" : "the operation was cancelled"), deadline ? "TimeoutError" : "AbortError");
}

/** The in-flight calls of each operation, and the operations the host cancelled. */
export class OperationCancellations {
  private readonly live = new Map<string, LiveOperation>();
  private readonly cancelled = new Map<string, { reason: DOMException; at: number }>();

  /**
   * A signal that aborts when operation `operationId` is cancelled (at once if
   * it already was); `release` when the call ends. Calls without an
   * operation id get a signal that never aborts.
   */
  join(operationId: string): { signal: AbortSignal; release: () => void } {
    if (!operationId) return { signal: new AbortController().signal, release: () => {} };
    const earlier = this.cancelled.get(operationId);
    if (earlier) return { signal: AbortSignal.abort(earlier.reason), release: () => {} };
    let op = this.live.get(operationId);
    if (!op) {
      op = { controller: new AbortController(), calls: 0 };
      this.live.set(operationId, op);
    }
    op.calls++;
    const joined = op;
    let released = false;
    return {
      signal: joined.controller.signal,
      release: () => {
        if (released) return;
        released = true;
        joined.calls--;
        if (joined.calls === 0 && this.live.get(operationId) === joined) this.live.delete(operationId);
      },
    };
  }

  /** Aborts every call of the operation, now and for a while after; how many were in flight. */
  cancel(operationId: string, reason: DOMException): number {
    this.remember(operationId, reason);
    const op = this.live.get(operationId);
    if (!op) return 0;
    this.live.delete(operationId);
    op.controller.abort(reason);
    return op.calls;
  }

  private remember(operationId: string, reason: DOMException): void {
    const now = Date.now();
    this.cancelled.delete(operationId);
    this.cancelled.set(operationId, { reason, at: now });
    for (const [id, entry] of this.cancelled) {
      if (this.cancelled.size <= REMEMBER_MAX && now - entry.at < REMEMBER_MS) break;
      this.cancelled.delete(id);
    }
  }
}
