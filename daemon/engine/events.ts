// An operation's progress as events: started, each resource planned, the
// plan (apply, destroy, teardown: before any change starts), each resource
// started, finished, failed or skipped, and a summary at the end. The engine
// emits them into the operation's journal; WatchOperation streams a journal
// to clients (replaying what they missed), which show live progress, plain
// timestamped lines, or one JSON object per line.
import { WfctlError } from "../../proto/errors.js";
import type { Plan } from "./plan-model.js";
import type { Target } from "./request.js";

export type ResourcePhase = "planned" | "started" | "finished" | "failed" | "skipped";

export interface ResourceEvent {
  kind: "resource";
  phase: ResourcePhase;
  name: string;
  type: string;
  /** create, update, replace, delete, noop; read (refresh, drift); prune; record (a state write that failed). */
  action: string;
  /** finished and failed: how long the change took. */
  durationMs?: number;
  /** failed: the error; skipped: why; started and finished of a replace's step: which ("delete", "create"); a finished read: the drift class. */
  errorCode?: string;
  message?: string;
  /** finished: a step that does not end its change (the first of a replace's two): not counted in the summary. */
  partial?: boolean;
}

export interface StartedEvent {
  kind: "started";
  operation: string;
  target: Target;
  caller: string;
}

export interface SummaryEvent {
  kind: "summary";
  ok: boolean;
  /** What stopped the operation, when something did. */
  errorCode: string;
  errorMessage: string;
  planned: Record<string, number>;
  finished: Record<string, number>;
  failed: number;
  skipped: number;
}

/** The plan an apply, destroy or teardown is about to carry out, sent once it is checked and before its first change. */
export interface PlanEvent {
  kind: "plan";
  plan: Plan;
  /** Where the state it was planned against lives. */
  where: { backend: string; namespace: string };
}

export type EngineEvent = StartedEvent | ResourceEvent | PlanEvent | SummaryEvent;

export interface StampedEvent {
  operationId: string;
  /** 1, 2, ... within the operation. */
  sequence: number;
  time: Date;
  /** Since the operation started. */
  elapsedMs: number;
  event: EngineEvent;
}

/** One operation's events, kept for clients that watch (or come back). */
export class OperationJournal {
  readonly events: StampedEvent[] = [];
  private readonly started = performance.now();
  private readonly wakers = new Set<() => void>();
  private readonly tally = { planned: {} as Record<string, number>, finished: {} as Record<string, number>, failed: 0, skipped: 0 };
  private closed = false;
  private stoppedBy: WfctlError | undefined;

  constructor(readonly operationId: string) {}

  get done(): boolean {
    return this.closed;
  }

  emit(event: EngineEvent): void {
    if (this.closed) return;
    if (event.kind === "resource") this.count(event);
    this.events.push({
      operationId: this.operationId,
      sequence: this.events.length + 1,
      time: new Date(),
      elapsedMs: Math.round(performance.now() - this.started),
      event,
    });
    if (event.kind === "summary") this.closed = true;
    for (const wake of this.wakers) wake();
    this.wakers.clear();
  }

  /** An operation that reports rather than throws (apply, destroy, teardown) says here what stopped it early. */
  stopped(error: WfctlError | undefined): void {
    this.stoppedBy ??= error;
  }

  /** The last event: a summary of what the resource events said, and what stopped the operation, if anything did. */
  finish(error: unknown): void {
    const failure = error === undefined ? this.stoppedBy : WfctlError.from(error);
    this.emit({
      kind: "summary",
      ok: failure === undefined && this.tally.failed === 0 && this.tally.skipped === 0,
      errorCode: failure?.code ?? "",
      errorMessage: failure?.message ?? "",
      planned: { ...this.tally.planned },
      finished: { ...this.tally.finished },
      failed: this.tally.failed,
      skipped: this.tally.skipped,
    });
  }

  /** Every event from the first, then each new one, until the summary or `signal` aborts. */
  async *follow(signal: AbortSignal): AsyncGenerator<StampedEvent> {
    let next = 0;
    while (!signal.aborted) {
      while (next < this.events.length) yield this.events[next++] as StampedEvent;
      if (this.closed) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          this.wakers.delete(wake);
          resolve();
        };
        this.wakers.add(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
  }

  private count(event: ResourceEvent): void {
    const bump = (map: Record<string, number>) => {
      map[event.action] = (map[event.action] ?? 0) + 1;
    };
    if (event.phase === "planned") bump(this.tally.planned);
    else if (event.phase === "finished" && !event.partial) bump(this.tally.finished);
    // A failed state write is reported on its own; the change it belongs to counts once.
    else if (event.phase === "failed" && event.action !== "record") this.tally.failed++;
    else if (event.phase === "skipped") this.tally.skipped++;
  }
}
