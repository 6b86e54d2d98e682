// One change of an apply, from intent to record: a create, update or delete first
// records its intent (status pending), then calls the provider, then records
// the result. Whatever stops the operation, the provider's answer is awaited
// (see changeCallOptions) and recorded; a change whose outcome the host never
// learned is recorded as unknown, never dropped. No provider call starts once
// the operation is cancelled or a state write has failed.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { CancelReason, PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { Action, type ApplyResourceResponse } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { abortError } from "../../proto/grpc.js";
import { decodeJsonObject, encodeJson } from "../../proto/json.js";
import { RecordStatus, type ResourceState, type StateStore, priorStateOf, withFields } from "../../proto/state-store.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import { fieldOfRecord, resolveReferences } from "../config/references.js";
import type { PluginInstance } from "../supervisor/instance.js";
import { type OperationContext, changeCallOptions, storeContext } from "./context.js";
import type { PlannedChange } from "./plan.js";
import type { ProviderHandle, ProviderSessions } from "./providers.js";
import type { StateRecorder } from "./recorder.js";

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

function outcomeUnknown(error: WfctlError): boolean {
  return OUTCOME_UNKNOWN.includes(error.code);
}

/** The record of a change that succeeded. */
function activeRecord(resource: ResourceModule, response: ApplyResourceResponse, createdAt: string | undefined): ResourceState {
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
function pendingCreate(resource: ResourceModule, ctx: OperationContext): ResourceState {
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
async function resolvedNow(env: ChangeEnvironment, planned: ResourceModule): Promise<ResourceModule> {
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
function mayStartQuietly(env: ChangeEnvironment, change: PlannedChange, action: string): void {
  const stop = env.ctx.signal.aborted ? abortError(env.ctx.signal) : env.halt.aborted ? WfctlError.from(env.halt.reason) : undefined;
  if (stop) throw new NotStarted(stop.code, `${action} of ${change.name} not started: ${stop.message}`);
}

/** Like mayStartQuietly, and announces the start: the provider call follows at once. */
function mayStart(env: ChangeEnvironment, change: PlannedChange, action: string): void {
  mayStartQuietly(env, change, action);
  env.ctx.emit({ kind: "resource", phase: "started", name: change.name, type: change.type, action: change.action });
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

async function callApply(env: ChangeEnvironment, handle: ProviderHandle, request: Parameters<ProviderHandle["client"]["apply"]>[0]): Promise<ApplyResourceResponse> {
  return handle.client.apply(request, changeCallOptions(env.ctx, env.config.env, notifier(env, handle.instance)));
}

async function create(env: ChangeEnvironment, change: PlannedChange, planned: ResourceModule, intent?: ResourceState): Promise<void> {
  const resource = await resolvedNow(env, planned);
  const handle = await env.sessions.get(resource.provider);
  const pending = pendingCreate(resource, env.ctx);
  if (!intent) {
    mayStartQuietly(env, change, "create");
    await env.recorder.intent(pending);
  }
  try {
    // A replace announced its start with its delete.
    if (intent) mayStartQuietly(env, change, "create");
    else mayStart(env, change, "create");
  } catch (err) {
    await env.recorder.forget(pending);
    throw err;
  }
  let response: ApplyResourceResponse;
  try {
    response = await callApply(env, handle, { resource: { name: resource.name, type: resource.type }, action: Action.CREATE, desiredConfigJson: encodeJson(resource.config) });
  } catch (err) {
    const error = WfctlError.from(err);
    if (outcomeUnknown(error)) await env.recorder.note(withFields(pending, { status: RecordStatus.UNKNOWN, error: `create: outcome unknown: ${error.message}`, updatedAt: new Date().toISOString() }));
    else await env.recorder.forget(pending);
    throw err;
  }
  await env.recorder.result(activeRecord(resource, response, undefined), { action: "create", providerId: response.providerId, recordedAs: "a pending record (its create unconfirmed)" });
}

/** The record of a change about to be made to what `prior` records: unconfirmed until it answers. */
function pendingChange(prior: ResourceState, action: "update" | "delete", ctx: OperationContext): ResourceState {
  const now = new Date().toISOString();
  return withFields(prior, { status: RecordStatus.PENDING, error: `${action} started at ${now} by ${ctx.operation} ${ctx.operationId}; not confirmed`, updatedAt: now });
}

/** Records the intent of a change to an existing resource, then announces it; not started, the record is put back. */
async function intendChange(env: ChangeEnvironment, change: PlannedChange, prior: ResourceState, action: "update" | "delete" | "replace"): Promise<void> {
  mayStartQuietly(env, change, action);
  await env.recorder.intent(pendingChange(prior, action === "update" ? "update" : "delete", env.ctx));
  try {
    mayStart(env, change, action);
  } catch (err) {
    await env.recorder.note(prior);
    throw err;
  }
}

async function update(env: ChangeEnvironment, change: PlannedChange, planned: ResourceModule, prior: ResourceState): Promise<void> {
  const resource = await resolvedNow(env, planned);
  const handle = await env.sessions.get(resource.provider);
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
 * Deletes what `prior` records. Its intent is recorded first (pending); then,
 * for a replace, the record becomes the pending create of `replacement`
 * (one write), else it is removed.
 */
async function remove(env: ChangeEnvironment, change: PlannedChange, prior: ResourceState, replacement?: ResourceModule): Promise<ResourceState | undefined> {
  const handle = await env.sessions.get(prior.provider);
  const now = () => new Date().toISOString();
  await intendChange(env, change, prior, replacement ? "replace" : "delete");
  try {
    await callApply(env, handle, { resource: { name: prior.resourceId, type: prior.resourceType }, action: Action.DELETE, prior: priorStateOf(prior) });
  } catch (err) {
    const error = WfctlError.from(err);
    await env.recorder.note(outcomeUnknown(error) ? withFields(prior, { status: RecordStatus.UNKNOWN, error: `delete: outcome unknown: ${error.message}`, updatedAt: now() }) : prior);
    throw err;
  }
  const recordedAs = "a pending record (its delete unconfirmed)";
  if (!replacement) {
    await env.recorder.removal(prior, { action: "delete", providerId: prior.providerId, recordedAs });
    return undefined;
  }
  const next = pendingCreate(await resolvedNow(env, replacement), env.ctx);
  await env.recorder.result(next, { action: "delete", providerId: prior.providerId, recordedAs });
  return next;
}

/** Removes the record of an unconfirmed resource its provider could not find: nothing to delete. */
async function forgetRecord(env: ChangeEnvironment, change: PlannedChange, prior: ResourceState): Promise<void> {
  mayStart(env, change, "delete");
  await env.recorder.removal(prior, { action: "delete", providerId: prior.providerId, recordedAs: `its ${prior.status} record` });
}

/** Runs one planned change. */
export async function runChange(env: ChangeEnvironment, change: PlannedChange): Promise<void> {
  const { resource, prior } = change;
  switch (change.action) {
    case "create":
      return create(env, change, resource as ResourceModule);
    case "update":
      return update(env, change, resource as ResourceModule, prior as ResourceState);
    case "replace": {
      const intent = await remove(env, change, prior as ResourceState, resource as ResourceModule);
      return create(env, change, resource as ResourceModule, intent);
    }
    case "delete":
      if (change.recordOnly) return forgetRecord(env, change, prior as ResourceState);
      await remove(env, change, prior as ResourceState);
      return;
    case "noop":
      return;
  }
}
