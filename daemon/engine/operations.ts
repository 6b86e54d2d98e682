// Operations in flight: each gets an id (the client's, so it can Cancel), a
// signal that aborts on Cancel or at its deadline (a client that disconnects
// does not stop it), a journal of its events that clients watch, and a place
// in the list operators see in `daemon status`.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { ROOT_CONTEXT } from "../../proto/telemetry.js";
import type { OperationContext } from "./context.js";
import type { Caller, OperationRequest, Target } from "./request.js";
import { type EngineEvent, OperationJournal } from "./events.js";

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

/** How long a finished operation's events stay watchable, and how many finished journals are kept at most. */
const JOURNAL_KEEP_MS = 10 * 60_000;
const JOURNALS_KEPT = 256;

export class OperationRegistry {
  private readonly running = new Map<string, RunningOperation>();
  /** Journals of running and recently finished operations, oldest first. */
  private readonly journals = new Map<string, OperationJournal>();
  /** Watchers waiting for an operation to start, by its id. */
  private readonly awaited = new Map<string, Set<() => void>>();

  constructor(private readonly logger: Logger) {}

  /**
   * The journal of operation `operationId`, waiting up to `waitMs` for it to
   * start (a client opens its watch just before the operation's own call).
   */
  async journal(operationId: string, waitMs: number, signal: AbortSignal): Promise<OperationJournal> {
    const known = this.journals.get(operationId);
    if (known) return known;
    await new Promise<void>((resolve) => {
      const waiters = this.awaited.get(operationId) ?? new Set<() => void>();
      this.awaited.set(operationId, waiters);
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        waiters.delete(finish);
        if (waiters.size === 0 && this.awaited.get(operationId) === waiters) this.awaited.delete(operationId);
        resolve();
      };
      const timer = setTimeout(finish, waitMs);
      signal.addEventListener("abort", finish, { once: true });
      waiters.add(finish);
    });
    const journal = this.journals.get(operationId);
    if (journal) return journal;
    signal.throwIfAborted();
    throw new WfctlError(ErrorCode.NOT_FOUND, `no operation ${operationId} started within ${waitMs} ms (or its events are no longer kept)`);
  }

  /** The running operation with this id, to record the lock it takes. */
  get(operationId: string): RunningOperation | undefined {
    return this.running.get(operationId);
  }


  /**
   * An operation's context: its signal aborts when the caller goes away, when
   * Cancel is called for it, or when its deadline passes. `done` must be called
   * when it ends.
   */
  start(operation: string, request: OperationRequest): OperationContext & { done: (error: unknown) => void } {
    const operationId = request.operationId || randomUUID();
    if (this.running.has(operationId) || this.journals.has(operationId)) {
      throw new WfctlError(ErrorCode.ALREADY_EXISTS, `operation ${operationId} is already running or has just run`);
    }
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
    const journal = new OperationJournal(operationId);
    this.journals.set(operationId, journal);
    journal.emit({ kind: "started", operation, target: request.target, caller: request.caller.user });
    for (const wake of this.awaited.get(operationId) ?? []) wake();
    const signals = [cancel.signal];
    if (request.signal) signals.push(request.signal);
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
      environment: request.target.environment ?? {},
      trace: request.trace ?? ROOT_CONTEXT,
      log: this.logger.child({ op: operation, op_id: operationId, env: request.target.env || undefined }),
      emit: (event: EngineEvent) => journal.emit(event),
      stopped: (error: WfctlError | undefined) => journal.stopped(error),
      done: (error: unknown) => {
        if (timer) clearTimeout(timer);
        this.running.delete(operationId);
        journal.finish(error);
        this.forgetLater(operationId, journal);
      },
    };
  }

  /** Drops a finished journal after a while, and the oldest ones beyond the limit at once. */
  private forgetLater(operationId: string, journal: OperationJournal): void {
    setTimeout(() => {
      if (this.journals.get(operationId) === journal) this.journals.delete(operationId);
    }, JOURNAL_KEEP_MS).unref();
    let excess = this.journals.size - JOURNALS_KEPT;
    for (const [id, kept] of this.journals) {
      if (excess <= 0) break;
      if (!kept.done) continue;
      this.journals.delete(id);
      excess--;
    }
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
