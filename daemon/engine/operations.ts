// Operations in flight: each gets an id (the client's, so it can Cancel), a
// signal that aborts on the caller's disconnect, on Cancel or at its deadline,
// and a place in the list operators see in `daemon status`.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type Context, ROOT_CONTEXT } from "../../proto/telemetry.js";
import type { Caller, OperationContext } from "./context.js";

/** Which configuration and environment an operation is about. */
export interface Target {
  /** Absolute path of infra.yaml. */
  configPath: string;
  /** Environment name; "" for none. */
  env: string;
}

/** What a caller passes to every engine operation. */
export interface OperationRequest {
  target: Target;
  caller: Caller;
  /** The caller's own cancellation (a client that disconnects). */
  signal: AbortSignal;
  /** When the operation must stop; it is then cancelled like a Ctrl-C, and still reports. */
  deadline: Date | undefined;
  /** Chosen by the client so it can Cancel; one is made up when empty. */
  operationId?: string;
  /** The trace this operation belongs to (its plugin calls join it). */
  trace?: Context;
}

/** An operation in flight, as operators see it. */
export interface RunningOperation {
  id: string;
  operation: string;
  target: Target;
  caller: Caller;
  startedAt: Date;
  /** The state lock it holds, once taken. */
  lock: { id: string; scope: string } | undefined;
  controller: AbortController;
}

export class OperationRegistry {
  private readonly running = new Map<string, RunningOperation>();

  constructor(private readonly logger: Logger) {}

  /** The running operation with this id, to record the lock it takes. */
  get(operationId: string): RunningOperation | undefined {
    return this.running.get(operationId);
  }


  /**
   * An operation's context: its signal aborts when the caller goes away, when
   * Cancel is called for it, or when its deadline passes. `done` must be called
   * when it ends.
   */
  start(operation: string, request: OperationRequest): OperationContext & { done: () => void } {
    const operationId = request.operationId || randomUUID();
    if (this.running.has(operationId)) throw new WfctlError(ErrorCode.ALREADY_EXISTS, `operation ${operationId} is already running`);
    const cancel = new AbortController();
    this.running.set(operationId, {
      id: operationId,
      operation,
      target: request.target,
      caller: request.caller,
      startedAt: new Date(),
      lock: undefined,
      controller: cancel,
    });
    const signals = [request.signal, cancel.signal];
    let timer: NodeJS.Timeout | undefined;
    if (request.deadline) {
      const expired = new AbortController();
      const ms = request.deadline.getTime() - Date.now();
      const fire = () => expired.abort(new WfctlError(ErrorCode.DEADLINE_EXCEEDED, `the operation's deadline passed (${request.deadline?.toISOString()})`));
      if (ms <= 0) fire();
      else timer = setTimeout(fire, ms);
      signals.push(expired.signal);
    }
    return {
      operationId,
      operation,
      signal: AbortSignal.any(signals),
      deadline: request.deadline,
      caller: request.caller,
      trace: request.trace ?? ROOT_CONTEXT,
      log: this.logger.child({ op: operation, op_id: operationId, env: request.target.env || undefined }),
      done: () => {
        if (timer) clearTimeout(timer);
        this.running.delete(operationId);
      },
    };
  }

  /** Cancels a running operation (Ctrl-C in its client); false if none has that id. */
  cancel(operationId: string, by: string, reason?: WfctlError): boolean {
    const running = this.running.get(operationId);
    if (!running) return false;
    this.logger.info({ op_id: operationId, by }, "operation cancelled");
    running.controller.abort(reason ?? new WfctlError(ErrorCode.CANCELLED, `cancelled by ${by}`));
    return true;
  }

  /** The operations running now, oldest first. */
  list(): RunningOperation[] {
    return [...this.running.values()].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  }

  /** Cancels every running operation (daemon shutdown after its grace period). */
  cancelAll(by: string, reason: WfctlError): number {
    for (const id of this.running.keys()) this.cancel(id, by, reason);
    return this.running.size;
  }

  /** How many operations are running. */
  get size(): number {
    return this.running.size;
  }
}
