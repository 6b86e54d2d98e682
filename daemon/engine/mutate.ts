// Apply and destroy as operations: (with --refresh) detect drift and prune
// ghosts, plan, check the plan is the one approved (or saved) and spares
// protected resources, tell watching clients the plan, run it, and persist
// what the providers read for the resources left unchanged.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { JsonObject } from "../../proto/json.js";
import { storeTimeout } from "../../proto/state-store.js";
import { locateState } from "../state/open.js";
import { type ResourceOutcome, applyPlan, checkProtected } from "./apply.js";
import { applySteps } from "./apply-order.js";
import type { UnrecordedChange } from "./recorder.js";
import type { OperationContext } from "./context.js";
import { type DriftFinding, detectDrift } from "./drift.js";
import { type Plan, computePlan } from "./plan.js";
import { type AuditEntry, type AuditSink, checkPrunable, ghostsOf, pruneGhosts, withoutRecords } from "./refresh.js";
import { applyMoves } from "./moves.js";
import { checkSavedPlan } from "./saved-plan.js";
import { DEFAULT_PARALLELISM } from "./scheduler.js";
import type { OpenedTarget } from "./target.js";

export interface ApplyOptions {
  /** Refuse with PLAN_STALE unless the plan still has this fingerprint. */
  expectedFingerprint?: string;
  parallelism?: number;
  /** Detect drift first, and prune ghosts from state before planning. */
  refresh?: boolean;
  /** With refresh: prune ghosts of protected resources too. */
  allowProtectedPrune?: boolean;
  /** Protected resources may be deleted or replaced (the second key). */
  allowProtectedDestroy?: boolean;
  /** --target: only these resources and what they depend on (plan-scope.ts). */
  targets?: readonly string[];
  /** --replace: replace these even where nothing changed. */
  replace?: readonly string[];
  /**
   * A saved plan (its targets and replace in the two fields above): applied
   * only if its checks find nothing changed since it was made (saved-plan.ts).
   */
  savedPlan?: { checks: JsonObject; destroy: boolean };
}

export interface ApplyResult {
  plan: Plan;
  outcomes: ResourceOutcome[];
  /** Why the operation stopped before finishing (cancelled, deadline, a plugin lost, state writes failing); undefined when it ran to the end. */
  stopped: WfctlError | undefined;
  /** Changes made whose results state could not record. */
  unrecorded: UnrecordedChange[];
  /** With refresh: the drift found, and the ghosts pruned (in order). */
  drift: DriftFinding[];
  pruned: AuditEntry[];
  /** The records `moved:` entries renamed before the changes started. */
  moved: AuditEntry[];
  /** The output sinks the configuration declares, and those marked on_apply. */
  sinks: { declared: number; onApply: number };
}

export function parallelismOf(requested: number | undefined): number {
  return requested && requested > 0 ? requested : DEFAULT_PARALLELISM;
}

/** Refuses with PLAN_STALE when what would be done is not what the user approved. */
export function checkFingerprint(plan: Plan, expected: string | undefined): void {
  if (expected && expected !== plan.fingerprint) {
    throw new WfctlError(
      ErrorCode.PLAN_STALE,
      "the plan changed since it was shown (configuration or state changed meanwhile); nothing was applied — review the new plan and run again",
    );
  }
}

/** Runs `plan`, logging each settled change and what stopped the operation, if anything did. */
export async function applyLogged(plan: Plan, { config, store, sessions }: OpenedTarget, ctx: OperationContext, parallelism: number) {
  const result = await applyPlan(plan, { config, store, sessions, ctx }, {
    parallelism,
    onSettled: (change, outcome) =>
      ctx.log.info({ resource: change.name, type: change.type, action: change.action, outcome: outcome.outcome }, "resource settled"),
  });
  if (result.stopped) ctx.log.warn({ code: result.stopped.code, reason: result.stopped.message }, `${ctx.operation} stopped before finishing`);
  return result;
}

/** An apply (or, with `destroy`, a destroy) under the stack lock the caller holds. */
export async function mutate(ctx: OperationContext, opened: OpenedTarget, options: ApplyOptions, destroy: boolean, audit: AuditSink): Promise<ApplyResult> {
  const { config, store, sessions } = opened;
  const parallelism = parallelismOf(options.parallelism);
  if (options.refresh && ((options.targets?.length ?? 0) > 0 || options.savedPlan)) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `--refresh works on the whole stack: it does not go with ${options.savedPlan ? "a saved plan" : "--target"}; nothing was done`);
  }
  let drift: DriftFinding[] = [];
  let ghosts: DriftFinding[] = [];
  if (options.refresh && !destroy) {
    drift = await detectDrift(config, store, sessions, ctx, parallelism);
    ghosts = ghostsOf(drift);
    checkPrunable(ghosts, options.allowProtectedPrune ?? false);
  }
  // Planned as if the ghosts were already pruned, and checked, before the
  // first prune: a refused or failed plan leaves state as it was.
  const scope = { targets: options.targets ?? [], replace: options.replace ?? [] };
  const plan = await computePlan(config, withoutRecords(store, ghosts.map((g) => g.name)), sessions, ctx, { destroy, ...scope });
  // Fields a reference fills with a sensitive value are sealed in every record written for them, as schema-sensitive ones are.
  for (const change of plan.changes) if (change.resource) store.markSensitive(change.name, change.sensitiveFields);
  const where = locateState(config);
  if (options.savedPlan) await checkSavedPlan(options.savedPlan.checks, { plan, config, sessions, where });
  checkFingerprint(plan, options.expectedFingerprint);
  checkProtected(plan, options.allowProtectedDestroy ?? false, destroy ? "wfctl infra destroy" : "wfctl infra apply");
  // Changes that cannot be ordered are refused here, before the first prune (applyPlan orders them again).
  applySteps(plan.changes.filter((c) => c.action !== "noop"));
  // What is about to be done, before the first change: a log shows the plan, then the progress.
  ctx.emit({ kind: "plan", plan, where });
  const pruned = await pruneGhosts(ghosts, `${ctx.operation} --refresh`, config, store, ctx, audit);
  const moved = await applyMoves(plan.changes, opened, ctx, audit);
  const { outcomes, stopped, unrecorded } = await applyLogged(plan, opened, ctx, parallelism);
  // Unchanged resources take what was read (and the configuration's
  // protected and depends_on), as Terraform persists a refresh on apply.
  // Not after a failed state write; and a failure here loses no change, so
  // it is logged rather than failing the report of what was done.
  if (stopped?.code !== ErrorCode.STATE_WRITE_FAILED) {
    for (const change of plan.changes) {
      if (!change.refreshed) continue;
      await store.saveState(change.refreshed, storeTimeout(60_000)).catch((err: unknown) => {
        ctx.log.warn({ resource: change.name, err: WfctlError.from(err).message }, "could not record what was read for an unchanged resource; the next plan reads it again");
      });
    }
  }
  const sinks = config.outputs.flatMap((o) => o.sinks);
  return { plan, outcomes, stopped, unrecorded, drift, pruned, moved, sinks: { declared: sinks.length, onApply: sinks.filter((s) => s.onApply).length } };
}
