// Applying a plan: every change in dependency order (deletes in reverse),
// with bounded parallelism, saving each resource's state the moment its
// change completes, so a failure or a cancellation leaves state describing
// exactly what exists.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { Action, type ApplyResourceResponse, type PriorState } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { DEADLINE_SLACK_MS, abortError } from "../../proto/grpc.js";
import { decodeJsonObject, encodeJson } from "../../proto/json.js";
import { type ResourceState, type StateStore, withFields } from "../../proto/state-store.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import { fieldOfRecord, resolveReferences } from "../config/references.js";
import { CALL_TIMEOUTS, type OperationContext, callOptions } from "./context.js";
import type { ResourceEvent } from "./events.js";
import type { ChangeAction, Plan, PlannedChange } from "./plan.js";
import type { ProviderSessions } from "./providers.js";
import { type Task, type TaskOutcome, runTasks } from "./scheduler.js";

export interface ResourceOutcome {
  name: string;
  type: string;
  action: ChangeAction;
  outcome: "succeeded" | "failed" | "skipped";
  error: WfctlError | undefined;
  elapsedMs: number;
  /** Why it was not attempted (skipped only). */
  skippedReason: string;
}

interface ApplyEnvironment {
  config: InfraConfig;
  store: StateStore;
  sessions: ProviderSessions;
  ctx: OperationContext;
}

/**
 * State writes must finish even when the operation is being cancelled: the
 * resource exists, so its record must too. They get their own time limit.
 */
function persistSignal(): AbortSignal {
  return AbortSignal.timeout(60_000);
}

function priorMessage(prior: ResourceState): PriorState {
  return { providerId: prior.providerId, configJson: encodeJson(prior.config), outputsJson: encodeJson(prior.outputs) } as PriorState;
}

function record(resource: ResourceModule, response: ApplyResourceResponse, createdAt: string | undefined): ResourceState {
  const now = new Date().toISOString();
  return {
    resourceId: resource.name,
    resourceType: resource.type,
    provider: resource.provider,
    status: "active",
    outputs: decodeJsonObject(response.outputsJson, `${resource.name}: outputs_json`),
    config: response.appliedConfigJson.byteLength > 0 ? decodeJsonObject(response.appliedConfigJson, `${resource.name}: applied_config_json`) : resource.config,
    createdAt: createdAt ?? now,
    updatedAt: now,
    error: "",
    providerId: response.providerId,
    protected: resource.protected,
    dependsOn: resource.dependsOn,
  };
}

/**
 * The resource with its references resolved now, from the records of the
 * resources they name: those changed earlier in this apply (the scheduler
 * runs a resource after everything it refers to) or unchanged.
 */
async function resolvedNow(env: ApplyEnvironment, planned: ResourceModule): Promise<ResourceModule> {
  // The plan carries the references; the configuration as written (references unresolved) is looked up only for those.
  if (planned.references.length === 0) return planned;
  const resource = env.config.resources.find((r) => r.name === planned.name);
  if (!resource) return planned;
  const { config } = await resolveReferences(resource.config, async (expression) => {
    const ref = resource.references.find((r) => r.expression === expression);
    const record = ref && (await env.store.getState(ref.target, { signal: env.ctx.signal }));
    if (!ref || !record) {
      throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `${resource.name}: reference \${${expression}}: resource "${ref?.target ?? expression}" has no state (it was not applied)`);
    }
    return fieldOfRecord(record, ref.field, expression);
  });
  return { ...planned, config };
}

async function create(env: ApplyEnvironment, planned: ResourceModule): Promise<void> {
  const resource = await resolvedNow(env, planned);
  const handle = await env.sessions.get(resource.provider);
  const response = await handle.client.apply(
    { resource: { name: resource.name, type: resource.type }, action: Action.CREATE, desiredConfigJson: encodeJson(resource.config) },
    callOptions(env.ctx, env.config.env, CALL_TIMEOUTS.apply),
  );
  await env.store.saveState(record(resource, response, undefined), { signal: persistSignal() });
}

async function update(env: ApplyEnvironment, planned: ResourceModule, prior: ResourceState): Promise<void> {
  const resource = await resolvedNow(env, planned);
  const handle = await env.sessions.get(resource.provider);
  let response: ApplyResourceResponse;
  try {
    response = await handle.client.apply(
      { resource: { name: resource.name, type: resource.type }, action: Action.UPDATE, desiredConfigJson: encodeJson(resource.config), prior: priorMessage(prior) },
      callOptions(env.ctx, env.config.env, CALL_TIMEOUTS.apply),
    );
  } catch (err) {
    // The resource still exists as last recorded; note that its update failed.
    const message = WfctlError.from(err).message;
    await env.store.saveState(withFields(prior, { status: "error", error: message, updatedAt: new Date().toISOString() }), { signal: persistSignal() });
    throw err;
  }
  await env.store.saveState(record(resource, response, prior.createdAt), { signal: persistSignal() });
}

async function remove(env: ApplyEnvironment, prior: ResourceState): Promise<void> {
  const handle = await env.sessions.get(prior.provider);
  await handle.client.apply(
    { resource: { name: prior.resourceId, type: prior.resourceType }, action: Action.DELETE, prior: priorMessage(prior) },
    callOptions(env.ctx, env.config.env, CALL_TIMEOUTS.apply),
  );
  await env.store.deleteState(prior.resourceId, { signal: persistSignal() });
}

function runChange(env: ApplyEnvironment, change: PlannedChange): Promise<void> {
  const { resource, prior } = change;
  switch (change.action) {
    case "create":
      return create(env, resource as ResourceModule);
    case "update":
      return update(env, resource as ResourceModule, prior as ResourceState);
    case "replace":
      return remove(env, prior as ResourceState).then(() => create(env, resource as ResourceModule));
    case "delete":
      return remove(env, prior as ResourceState);
    case "noop":
      return Promise.resolve();
  }
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

/** The event that says how a change ended. */
function settledEvent(change: PlannedChange, outcome: TaskOutcome): ResourceEvent {
  const about = { kind: "resource", name: change.name, type: change.type, action: change.action } as const;
  if (outcome.outcome === "succeeded") return { ...about, phase: "finished", durationMs: Math.round(outcome.elapsedMs) };
  if (outcome.outcome === "failed") return { ...about, phase: "failed", durationMs: Math.round(outcome.elapsedMs), errorCode: outcome.error.code, message: outcome.error.message };
  return { ...about, phase: "skipped", message: outcome.reason };
}

/** Executes every non-noop change of `plan`. */
export async function applyPlan(
  plan: Plan,
  env: ApplyEnvironment,
  options: { parallelism: number; onSettled?: (change: PlannedChange, outcome: TaskOutcome) => void },
): Promise<{ outcomes: ResourceOutcome[]; stopped: WfctlError | undefined }> {
  const pending = plan.changes.filter((c) => c.action !== "noop");
  const deleting = new Set(pending.filter((c) => c.action === "delete").map((c) => c.name));
  const byName = new Map(pending.map((c) => [c.name, c]));
  const tasks: Task[] = pending.map((change) => ({
    id: change.name,
    // Creates and updates wait for what they depend on; a delete waits until
    // everything being deleted that depends on it is gone.
    after:
      change.action === "delete"
        ? pending.filter((other) => deleting.has(other.name) && other.dependsOn.includes(change.name)).map((o) => o.name)
        : change.dependsOn,
    run: () => runChange(env, change),
  }));
  // Some failures stop the whole operation: nothing new starts, what is in
  // flight settles and is recorded. A plugin that died (its restart may
  // behave differently), and a call that ran into the operation's own
  // deadline (the plugin call may notice a moment before the engine does).
  const halt = new AbortController();
  const outcomes = await runTasks(tasks, {
    parallelism: options.parallelism,
    signal: AbortSignal.any([env.ctx.signal, halt.signal]),
    onStarted: (id) => {
      const change = byName.get(id);
      if (change) env.ctx.emit({ kind: "resource", phase: "started", name: change.name, type: change.type, action: change.action });
    },
    onSettled: (id, outcome) => {
      const change = byName.get(id);
      if (change) {
        env.ctx.emit(settledEvent(change, outcome));
        options.onSettled?.(change, outcome);
      }
      if (outcome.outcome !== "failed" || halt.signal.aborted) return;
      const why = haltingFailure(id, outcome.error, env.ctx);
      if (why) {
        env.ctx.log.error({ resource: id, err: outcome.error.message }, `stopping the operation: ${why.message}`);
        halt.abort(why);
      }
    },
  });
  const results = pending.map((change) => {
    const outcome = outcomes.get(change.name) ?? { outcome: "skipped" as const, reason: "not reached" };
    return {
      name: change.name,
      type: change.type,
      action: change.action,
      outcome: outcome.outcome,
      error: outcome.outcome === "failed" ? outcome.error : undefined,
      elapsedMs: outcome.outcome === "skipped" ? 0 : outcome.elapsedMs,
      skippedReason: outcome.outcome === "skipped" ? outcome.reason : "",
    };
  });
  const stopped = env.ctx.signal.aborted ? abortError(env.ctx.signal) : halt.signal.aborted ? WfctlError.from(halt.signal.reason) : undefined;
  env.ctx.stopped(stopped);
  return { outcomes: results, stopped };
}
