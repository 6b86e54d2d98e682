// One change of an apply, from intent to record: a create, update or delete first
// records its intent (status pending), then calls the provider, then records
// the result (a replace is a delete and a create, as two steps: steps.ts). Whatever stops the operation, the provider's answer is awaited
// (see changeCallOptions) and recorded; a change whose outcome the host never
// learned is recorded as unknown, never dropped. No provider call starts once
// the operation is cancelled or a state write has failed.
import { ErrorCode, WfctlError, abortError } from "../../proto/errors.js";
import { CancelReason, PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { Action, type ApplyResourceResponse } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { decodeJsonObject, encodeJson } from "../../proto/json.js";
import { RecordStatus, type ResourceState, type StateStore, priorStateOf, withFields } from "../../proto/state-store.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import { fieldOfRecord, resolveReferences } from "../config/references.js";
import type { PluginInstance } from "../supervisor/instance.js";
import { type OperationContext, changeCallOptions, storeContext } from "./context.js";
import type { PlannedChange } from "./plan.js";
import { type ProviderHandle, type ProviderSessions, withSchemaDefaults } from "./providers.js";
import { resourceNameOf } from "./deposed.js";
import type { StateRecorder } from "./recorder.js";

/** The two steps of a replace, as its events name them (apply-order.ts orders them). */
export type ReplaceStep = "delete" | "create";

/** What running a change needs. */
export interface ChangeEnvironment {
  config: InfraConfig;
  store: StateStore;
  sessions: ProviderSessions;
  ctx: OperationContext;
  recorder: StateRecorder;
  /** Aborted when the operation must start nothing more (a failed state write, a lost plugin). */
  halt: AbortSignal;
  /** Plugins already told that this operation was cancelled (once each). */
  notified: Set<PluginInstance>;
}

/** A change that was never started: nothing was done, so nothing needs recording. */
export class NotStarted extends WfctlError {}

/** Errors after which a change may or may not have been made: it is recorded as unknown. */
const OUTCOME_UNKNOWN: readonly ErrorCode[] = [ErrorCode.CANCELLED, ErrorCode.DEADLINE_EXCEEDED, ErrorCode.UNKNOWN, ErrorCode.INTERNAL, ErrorCode.PLUGIN_UNAVAILABLE];

export function outcomeUnknown(error: WfctlError): boolean {
  return OUTCOME_UNKNOWN.includes(error.code);
}

/** The record of a change that succeeded. */
export function activeRecord(resource: ResourceModule, response: ApplyResourceResponse, createdAt: string | undefined): ResourceState {
  const now = new Date().toISOString();
  return {
    resourceId: resource.name,
    resourceType: resource.type,
    provider: resource.provider,
    status: RecordStatus.ACTIVE,
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

/** The intent of a create: what it was given, and that it has not been confirmed. */
export function pendingCreate(resource: ResourceModule, ctx: OperationContext): ResourceState {
  const now = new Date().toISOString();
  return {
    resourceId: resource.name,
    resourceType: resource.type,
    provider: resource.provider,
    status: RecordStatus.PENDING,
    outputs: {},
    config: resource.config,
    createdAt: now,
    updatedAt: now,
    error: `create started at ${now} by ${ctx.operation} ${ctx.operationId}; not confirmed`,
    providerId: "",
    protected: resource.protected,
    dependsOn: resource.dependsOn,
  };
}

/**
 * The resource with its references resolved now, from the records of the
 * resources they name: those changed earlier in this apply (the scheduler
 * runs a resource after everything it refers to) or unchanged.
 */
export async function resolvedNow(env: ChangeEnvironment, planned: ResourceModule): Promise<ResourceModule> {
  // The plan carries the references; the configuration as written (references unresolved) is looked up only for those.
  if (planned.references.length === 0) return planned;
  const resource = env.config.resources.find((r) => r.name === planned.name);
  if (!resource) return planned;
  const { config } = await resolveReferences(resource.config, async (expression) => {
    const ref = resource.references.find((r) => r.expression === expression);
    const record = ref && (await env.store.getState(ref.target, storeContext(env.ctx)));
    if (!ref || !record) {
      throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `${resource.name}: reference \${${expression}}: resource "${ref?.target ?? expression}" has no state (it was not applied)`);
    }
    return fieldOfRecord(record, ref.field, expression);
  });
  return { ...planned, config };
}

/** Refuses to start a provider call once the operation is stopping. */
export function mayStartQuietly(env: ChangeEnvironment, change: PlannedChange, action: string): void {
  const stop = env.ctx.signal.aborted ? abortError(env.ctx.signal) : env.halt.aborted ? WfctlError.from(env.halt.reason) : undefined;
  if (stop) throw new NotStarted(stop.code, `${action} of ${change.name} not started: ${stop.message}`);
}

/**
 * Like mayStartQuietly, and announces the start: the provider call follows
 * at once. `step`: which step of a replace it is (apply-order.ts).
 */
export function mayStart(env: ChangeEnvironment, change: PlannedChange, action: string, step?: ReplaceStep): void {
  mayStartQuietly(env, change, action);
  env.ctx.emit({ kind: "resource", phase: "started", name: change.name, type: change.type, action: change.action, ...(step ? { message: step } : {}) });
}

/** Tells the plugin, once per operation, to stop this operation's calls (they still answer). */
function notifier(env: ChangeEnvironment, instance: PluginInstance): (reason: unknown) => void {
  return (reason) => {
    if (env.notified.has(instance)) return;
    env.notified.add(instance);
    const error = WfctlError.from(reason, ErrorCode.CANCELLED);
    const request = {
      operationId: env.ctx.operationId,
      reason: error.code === ErrorCode.DEADLINE_EXCEEDED ? CancelReason.DEADLINE_EXCEEDED : CancelReason.CANCELLED,
      message: error.message,
    };
    Promise.resolve()
      .then(() => instance.client(PluginController).cancelOperation(request, { deadline: new Date(Date.now() + 5_000) }))
      .catch((err: unknown) => env.ctx.log.debug({ err: WfctlError.from(err).message, plugin: instance.spec.name }, "could not tell the plugin to stop (it is given the grace period anyway)"));
  };
}

export async function callApply(env: ChangeEnvironment, handle: ProviderHandle, request: Parameters<ProviderHandle["client"]["apply"]>[0]): Promise<ApplyResourceResponse> {
  return handle.client.apply(request, changeCallOptions(env.ctx, env.config.env, notifier(env, handle.instance)));
}

/** Creates `planned` (for a replace, its new object: `step` "create"), its intent recorded first. */
export async function create(env: ChangeEnvironment, change: PlannedChange, planned: ResourceModule, step?: ReplaceStep): Promise<void> {
  const handle = await env.sessions.get(planned.provider);
  const resource = withSchemaDefaults(await resolvedNow(env, planned), handle);
  const pending = pendingCreate(resource, env.ctx);
  mayStartQuietly(env, change, "create");
  await env.recorder.intent(pending);
  try {
    mayStart(env, change, "create", step);
  } catch (err) {
    await env.recorder.forget(pending);
    throw err;
  }
  const response = await callCreate(env, handle, resource, pending, () => env.recorder.forget(pending));
  await env.recorder.result(activeRecord(resource, response, undefined), { action: "create", providerId: response.providerId, recordedAs: "a pending record (its create unconfirmed)" });
}

/**
 * Apply CREATE of `resource`, whose `pending` record is in state. When it
 * fails, the record says the outcome is unknown if it may have happened
 * (outcomeUnknown), else `undo` puts state back as it was; then it throws.
 */
export async function callCreate(
  env: ChangeEnvironment,
  handle: ProviderHandle,
  resource: ResourceModule,
  pending: ResourceState,
  undo: () => Promise<void>,
): Promise<ApplyResourceResponse> {
  try {
    return await callApply(env, handle, { resource: { name: resource.name, type: resource.type }, action: Action.CREATE, desiredConfigJson: encodeJson(resource.config) });
  } catch (err) {
    const error = WfctlError.from(err);
    if (outcomeUnknown(error)) await env.recorder.note(withFields(pending, { status: RecordStatus.UNKNOWN, error: `create: outcome unknown: ${error.message}`, updatedAt: new Date().toISOString() }));
    else await undo();
    throw err;
  }
}

/** The record of a change about to be made to what `prior` records: unconfirmed until it answers. */
function pendingChange(prior: ResourceState, action: "update" | "delete", ctx: OperationContext): ResourceState {
  const now = new Date().toISOString();
  return withFields(prior, { status: RecordStatus.PENDING, error: `${action} started at ${now} by ${ctx.operation} ${ctx.operationId}; not confirmed`, updatedAt: now });
}

/** Records the intent of a change to an existing resource, then announces it; not started, the record is put back. */
async function intendChange(env: ChangeEnvironment, change: PlannedChange, prior: ResourceState, action: "update" | "delete", step?: ReplaceStep): Promise<void> {
  mayStartQuietly(env, change, action);
  await env.recorder.intent(pendingChange(prior, action, env.ctx));
  try {
    mayStart(env, change, action, step);
  } catch (err) {
    await env.recorder.note(prior);
    throw err;
  }
}

export async function update(env: ChangeEnvironment, change: PlannedChange, planned: ResourceModule, prior: ResourceState): Promise<void> {
  const handle = await env.sessions.get(planned.provider);
  const resource = withSchemaDefaults(await resolvedNow(env, planned), handle);
  // Recorded first: a daemon killed mid-update leaves a record the next plan reads.
  await intendChange(env, change, prior, "update");
  let response: ApplyResourceResponse;
  try {
    response = await callApply(env, handle, {
      resource: { name: resource.name, type: resource.type },
      action: Action.UPDATE,
      desiredConfigJson: encodeJson(resource.config),
      prior: priorStateOf(prior),
    });
  } catch (err) {
    // The resource still exists as last recorded; note that its update failed, or may have.
    const error = WfctlError.from(err);
    const status = outcomeUnknown(error) ? RecordStatus.UNKNOWN : RecordStatus.ERROR;
    await env.recorder.note(withFields(prior, { status, error: `update${status === RecordStatus.UNKNOWN ? ": outcome unknown" : " failed"}: ${error.message}`, updatedAt: new Date().toISOString() }));
    throw err;
  }
  await env.recorder.result(activeRecord(resource, response, prior.createdAt), { action: "update", providerId: response.providerId, recordedAs: "a pending record (its update unconfirmed)" });
}

/**
 * Deletes what `prior` records (for a replace, its old object: `step`
 * "delete"; for a deposed record, the old object of its resource). Its
 * intent is recorded first (pending), then the record is removed.
 */
export async function remove(env: ChangeEnvironment, change: PlannedChange, prior: ResourceState, step?: ReplaceStep): Promise<void> {
  const handle = await env.sessions.get(prior.provider);
  const now = () => new Date().toISOString();
  await intendChange(env, change, prior, "delete", step);
  try {
    await callApply(env, handle, { resource: { name: resourceNameOf(prior.resourceId), type: prior.resourceType }, action: Action.DELETE, prior: priorStateOf(prior) });
  } catch (err) {
    const error = WfctlError.from(err);
    await env.recorder.note(outcomeUnknown(error) ? withFields(prior, { status: RecordStatus.UNKNOWN, error: `delete: outcome unknown: ${error.message}`, updatedAt: now() }) : prior);
    throw err;
  }
  await env.recorder.removal(prior, { action: "delete", providerId: prior.providerId, recordedAs: "a pending record (its delete unconfirmed)" });
}

/** Removes the record of an unconfirmed resource its provider could not find: nothing to delete. */
export async function forgetRecord(env: ChangeEnvironment, change: PlannedChange, prior: ResourceState): Promise<void> {
  mayStart(env, change, "delete");
  await env.recorder.removal(prior, { action: "delete", providerId: prior.providerId, recordedAs: `its ${prior.status} record` });
}
