// Applying a plan: every change in dependency order (deletes in reverse, a
// replace as two steps: apply-order.ts), with bounded parallelism, recording
// each resource's state as each step completes (changes.ts, steps.ts), so a
// failure, a cancellation or a failing state store leaves state describing
// what exists.
import { DEADLINE_SLACK_MS, ErrorCode, WfctlError, abortError } from "../../proto/errors.js";
import type { StateStore } from "../../proto/state-store.js";
import type { InfraConfig } from "../config/model.js";
import { describeBackend } from "../state/open.js";
import type { PluginInstance } from "../supervisor/instance.js";
import { type ApplyStep, applySteps } from "./apply-order.js";
import { ChangeOutcomes, type ResourceOutcome } from "./change-outcomes.js";
import { NotStarted } from "./changes.js";
import type { OperationContext } from "./context.js";
import type { Plan, PlannedChange } from "./plan.js";
import type { ProviderSessions } from "./providers.js";
import { StateRecorder, type UnrecordedChange, stateWriteFailure } from "./recorder.js";
import { type Task, type TaskOutcome, runTasks } from "./scheduler.js";
import { runStep } from "./steps.js";

export type { ResourceOutcome } from "./change-outcomes.js";

interface ApplyEnvironment {
  config: InfraConfig;
  store: StateStore;
  sessions: ProviderSessions;
  ctx: OperationContext;
}

/** The error that stops the operation when change `id` failed with `error`, if that failure should. */
function haltingFailure(id: string, error: WfctlError, ctx: ApplyEnvironment["ctx"]): WfctlError | undefined {
  if (error.code === ErrorCode.PLUGIN_UNAVAILABLE) {
    return new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, `a plugin became unavailable while applying ${id}: ${error.message}`);
  }
  if (error.code === ErrorCode.DEADLINE_EXCEEDED && ctx.deadline && ctx.deadline.getTime() - Date.now() <= DEADLINE_SLACK_MS) {
    return new WfctlError(ErrorCode.DEADLINE_EXCEEDED, `the operation's deadline passed (${ctx.deadline.toISOString()}) while applying ${id}`);
  }
  return undefined;
}

/**
 * Refuses to delete or replace protected resources (like Terraform's
 * prevent_destroy and Pulumi's protect) unless explicitly allowed: the
 * configuration's `protected: true` is one key, --allow-protected-destroy the
 * other. Names every blocked resource; nothing is done.
 */
export function checkProtected(plan: Plan, allow: boolean, command: string): void {
  const blocked = plan.changes.filter((c) => c.protected && (c.action === "delete" || c.action === "replace"));
  if (blocked.length > 0 && !allow) {
    throw new WfctlError(
      ErrorCode.PROTECTED_RESOURCE,
      `refusing to ${plan.destroy ? "destroy" : "delete or replace"} protected resource(s): ${blocked.map((c) => `${c.name} (${c.type}, ${c.action})`).join(", ")}; nothing was changed. ` +
        `Set protected: false on them in the configuration, or run ${command} again with --allow-protected-destroy if you really mean it`,
    );
  }
}

/** What applying a plan did. */
export interface ApplyOutcome {
  outcomes: ResourceOutcome[];
  /** Why it stopped before finishing (cancelled, deadline, a plugin lost, state writes failing). */
  stopped: WfctlError | undefined;
  /** Changes made (or maybe made) whose result state does not hold. */
  unrecorded: UnrecordedChange[];
}

/** Executes every non-noop change of `plan`, in the order apply-order.ts gives its steps. */
export async function applyPlan(
  plan: Plan,
  env: ApplyEnvironment,
  options: { parallelism: number; onSettled?: (change: PlannedChange, outcome: TaskOutcome) => void },
): Promise<ApplyOutcome> {
  const pending = plan.changes.filter((c) => c.action !== "noop");
  const steps = applySteps(pending);
  const byId = new Map(steps.map((s) => [s.id, s]));
  // Some failures stop the whole operation: nothing new starts, what is in
  // flight settles and is recorded. A state write that failed (what is done
  // next could not be recorded either), a plugin that died (its restart may
  // behave differently), and a call that ran into the operation's own
  // deadline (the plugin call may notice a moment before the engine does).
  const halt = new AbortController();
  const recorder = new StateRecorder(env.store, env.ctx, (error) => {
    if (!halt.signal.aborted) halt.abort(new WfctlError(ErrorCode.STATE_WRITE_FAILED, `a state write failed: ${error.message}`, { cause: error }));
  });
  const stepEnv = { ...env, recorder, halt: halt.signal, notified: new Set<PluginInstance>(), deposed: new Map() };
  const tasks: Task[] = steps.map((step) => ({ id: step.id, after: step.after, run: () => runStep(stepEnv, step) }));
  const settled = new ChangeOutcomes();
  const outcomes = await runTasks(tasks, {
    parallelism: options.parallelism,
    signal: AbortSignal.any([env.ctx.signal, halt.signal]),
    // A change refused before its provider call is not attempted: skipped, not failed.
    skipped: (error) => (error instanceof NotStarted ? error.message : undefined),
    onSettled: (id, outcome) => {
      const step = byId.get(id);
      if (!step) return;
      const event = settled.add(step, outcome);
      if (event) {
        env.ctx.emit(event);
        options.onSettled?.(step.change, outcome);
      }
      if (outcome.outcome !== "failed" || halt.signal.aborted) return;
      const why = haltingFailure(step.change.name, outcome.error, env.ctx);
      if (why) {
        env.ctx.log.error({ resource: step.change.name, err: outcome.error.message }, `stopping the operation: ${why.message}`);
        halt.abort(why);
      }
    },
  });
  // Each change's steps (one, or a replace's two), found once rather than by a search per change.
  const stepsOf = new Map<PlannedChange, { step: ApplyStep; outcome: TaskOutcome | undefined }[]>();
  for (const step of steps) {
    const of = stepsOf.get(step.change) ?? [];
    of.push({ step, outcome: outcomes.get(step.id) });
    stepsOf.set(step.change, of);
  }
  const results = pending.map((change) => settled.outcomeOf(change, stepsOf.get(change) ?? []));
  const stopped = recorder.failure
    ? stateWriteFailure(recorder.failure, recorder.unrecorded, describeBackend(env.config))
    : env.ctx.signal.aborted
      ? abortError(env.ctx.signal)
      : halt.signal.aborted
        ? WfctlError.from(halt.signal.reason)
        : undefined;
  env.ctx.stopped(stopped);
  return { outcomes: results, stopped, unrecorded: recorder.unrecorded };
}
