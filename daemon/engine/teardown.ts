// Teardown: destroy every resource in state, then wipe what is left of the
// namespace. The wipe happens only when every destroy succeeded: otherwise
// state keeps describing what still exists. A dry run previews, unlocked.
import type { WfctlError } from "../../proto/errors.js";
import { type ResourceState, storeTimeout } from "../../proto/state-store.js";
import { describeBackend } from "../state/open.js";
import { type ResourceOutcome, checkProtected } from "./apply.js";
import { type OperationContext, storeContext } from "./context.js";
import type { UnrecordedChange } from "./recorder.js";
import { applyLogged, checkFingerprint, parallelismOf } from "./mutate.js";
import { type Plan, computePlan } from "./plan.js";
import type { OpenedTarget } from "./target.js";

export interface TeardownOptions {
  /** Preview only: nothing is locked, destroyed or wiped. */
  dryRun: boolean;
  expectedFingerprint?: string;
  parallelism?: number;
  allowProtectedDestroy?: boolean;
}

export interface TeardownResult {
  plan: Plan;
  outcomes: ResourceOutcome[];
  stopped: WfctlError | undefined;
  /** Changes made whose results state could not record. */
  unrecorded: UnrecordedChange[];
  /** "namespace/resource" keys wiped, or with dryRun, to be wiped. */
  stateKeys: string[];
  wiped: boolean;
  dryRun: boolean;
  backend: string;
  namespace: string;
}

export async function teardown(ctx: OperationContext, opened: OpenedTarget, options: TeardownOptions): Promise<TeardownResult> {
  const { config, store, sessions } = opened;
  const plan = await computePlan(config, store, sessions, ctx, { destroy: true });
  const keys = (records: readonly ResourceState[]) => records.map((r) => `${config.namespace}/${r.resourceId}`).sort();
  const base = { plan, backend: describeBackend(config), namespace: config.namespace, dryRun: options.dryRun };
  if (options.dryRun) {
    return { ...base, outcomes: [], stopped: undefined, unrecorded: [], stateKeys: keys(await store.listStates({}, storeContext(ctx))), wiped: false };
  }
  checkFingerprint(plan, options.expectedFingerprint);
  checkProtected(plan, options.allowProtectedDestroy ?? false, "wfctl infra teardown");
  ctx.emit({ kind: "plan", plan, where: { backend: base.backend, namespace: base.namespace } });
  const before = keys(await store.listStates({}, storeContext(ctx)));
  const { outcomes, stopped, unrecorded } = await applyLogged(plan, opened, ctx, parallelismOf(options.parallelism));
  if (stopped || outcomes.some((o) => o.outcome !== "succeeded")) {
    ctx.log.warn("teardown incomplete: state was not wiped and still records what exists");
    return { ...base, outcomes, stopped, unrecorded, stateKeys: [], wiped: false };
  }
  // Whatever is left (nothing, unless something wrote around the lock) goes too.
  const left = await store.listStates({}, storeTimeout(60_000));
  for (const record of left) await store.deleteState(record.resourceId, storeTimeout(60_000));
  const stateKeys = [...new Set([...before, ...keys(left)])].sort();
  ctx.log.warn({ destroyed: outcomes.length, wiped: stateKeys.length }, "teardown complete: resources destroyed, state wiped");
  return { ...base, outcomes, stopped, unrecorded, stateKeys, wiped: true };
}
