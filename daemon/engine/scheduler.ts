// Runs a graph of tasks with bounded parallelism: a task starts once every
// task it depends on has succeeded; a failure skips its dependents while
// independent work goes on; cancellation stops new starts, lets in-flight
// tasks settle, and skips the rest.
import { WfctlError } from "../../proto/errors.js";

export interface Task {
  id: string;
  /** Ids of tasks that must succeed first (ids not in the graph are ignored). */
  after: readonly string[];
  run(signal: AbortSignal): Promise<void>;
}

export type TaskOutcome =
  | { outcome: "succeeded"; elapsedMs: number }
  | { outcome: "failed"; error: WfctlError; elapsedMs: number }
  | { outcome: "skipped"; reason: string };

/** Why tasks were not started after `signal` aborted. */
function stoppedReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof WfctlError && reason.code !== "CANCELLED" ? `not started: ${reason.message}` : "the operation was stopped";
}

/** What each task still waits on (the ids of its `after` in the graph), and which tasks wait on each. */
function dependencyGraph(tasks: readonly Task[]): { waitingOn: Map<string, Set<string>>; dependents: Map<string, string[]> } {
  const ids = new Set(tasks.map((t) => t.id));
  const waitingOn = new Map(tasks.map((t) => [t.id, new Set(t.after.filter((a) => ids.has(a) && a !== t.id))]));
  const dependents = new Map<string, string[]>();
  for (const task of tasks) {
    for (const dep of waitingOn.get(task.id) ?? []) {
      const of = dependents.get(dep);
      if (of) of.push(task.id);
      else dependents.set(dep, [task.id]);
    }
  }
  return { waitingOn, dependents };
}

/** Terraform's default. */
export const DEFAULT_PARALLELISM = 10;

export async function runTasks(
  tasks: readonly Task[],
  options: {
    parallelism: number;
    signal: AbortSignal;
    onStarted?: (id: string) => void;
    onSettled?: (id: string, outcome: TaskOutcome) => void;
    /** Says why a task that threw `error` did not really start (it is then skipped, not failed), or undefined. */
    skipped?: (error: unknown) => string | undefined;
  },
): Promise<Map<string, TaskOutcome>> {
  const limit = Math.max(1, Math.floor(options.parallelism));
  const results = new Map<string, TaskOutcome>();
  const { waitingOn, dependents } = dependencyGraph(tasks);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const ready = tasks.filter((t) => waitingOn.get(t.id)?.size === 0).map((t) => t.id);
  let running = 0;

  const settle = (id: string, outcome: TaskOutcome) => {
    results.set(id, outcome);
    options.onSettled?.(id, outcome);
  };
  const skipDependents = (id: string, reason: string) => {
    for (const next of dependents.get(id) ?? []) {
      if (results.has(next)) continue;
      settle(next, { outcome: "skipped", reason });
      skipDependents(next, reason);
    }
  };

  await new Promise<void>((resolve) => {
    const pump = () => {
      while (running < limit && ready.length > 0 && !options.signal.aborted) {
        const id = ready.shift() as string;
        if (results.has(id)) continue;
        const task = byId.get(id) as Task;
        running++;
        options.onStarted?.(id);
        const started = performance.now();
        task
          .run(options.signal)
          .then(
            () => {
              settle(id, { outcome: "succeeded", elapsedMs: performance.now() - started });
              for (const next of dependents.get(id) ?? []) {
                const wait = waitingOn.get(next);
                wait?.delete(id);
                if (wait?.size === 0 && !results.has(next)) ready.push(next);
              }
            },
            (err: unknown) => {
              const notStarted = options.skipped?.(err);
              if (notStarted !== undefined) settle(id, { outcome: "skipped", reason: notStarted });
              else settle(id, { outcome: "failed", error: WfctlError.from(err), elapsedMs: performance.now() - started });
              skipDependents(id, notStarted !== undefined ? `${id} was not started` : `${id} failed`);
            },
          )
          .finally(() => {
            running--;
            pump();
          });
      }
      if (running === 0 && (ready.length === 0 || options.signal.aborted)) {
        for (const task of tasks) {
          if (!results.has(task.id)) settle(task.id, { outcome: "skipped", reason: options.signal.aborted ? stoppedReason(options.signal) : "not reached" });
        }
        resolve();
      }
    };
    pump();
  });
  return results;
}
