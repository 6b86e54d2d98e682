// Planning one resource: resolve its references, read what exists now (plans
// are made against reality, as Terraform's are), and ask its provider what
// would change. A record whose outcome was never confirmed (pending or
// unknown) is read first: found, it is adopted; gone, it is created again
// (or, when no longer configured, only its record is removed).
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type FieldDifference, type FieldMap, diffFields, validateFields, withDefaults } from "../../proto/fields.js";
import { Action } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, decodeJsonObject, decodeJsonValue, encodeJson, jsonEqual, type JsonValue } from "../../proto/json.js";
import { isSealed, sameConfig } from "../../proto/sealed.js";
import { settlePlanSeals } from "../../proto/sealed-compare.js";
import { RecordStatus, type ResourceState, isUnconfirmed, priorStateOf, withFields } from "../../proto/state-store.js";
import { moduleProblem } from "../config/load.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import {
  KNOWN_AFTER_APPLY,
  SensitiveValue,
  UNKNOWN,
  fieldOfRecord,
  hasReferences,
  isSensitiveField,
  resolveReferences,
  topFields,
  valueAt,
} from "../config/references.js";
import { formatDetails } from "../config/source.js";
import { CALL_TIMEOUTS, type OperationContext, callOptions } from "./context.js";
import type { ChangeAction, PlannedChange } from "./plan-model.js";
import type { ProviderSessions } from "./providers.js";

/** What planning a resource needs. */
export interface PlanningContext {
  config: InfraConfig;
  sessions: ProviderSessions;
  ctx: OperationContext;
  /** Read what exists before planning (false: plan against state as recorded). */
  refresh: boolean;
  /** The plans of resources, by name, as they are made (references wait on them). */
  planned: ReadonlyMap<string, Promise<PlannedChange>>;
  /** The configuration's resources by name. */
  configured: ReadonlyMap<string, ResourceModule>;
}

const actionNames: Partial<Record<Action, ChangeAction>> = {
  [Action.NOOP]: "noop",
  [Action.CREATE]: "create",
  [Action.UPDATE]: "update",
  [Action.REPLACE]: "replace",
  [Action.DELETE]: "delete",
};

/** How a plan shows an unconfirmed record, and what it decided about it. */
function recordedNote(record: ResourceState, decision: string): { status: string; note: string } {
  return { status: record.status, note: `recorded as ${record.status}${record.error ? ` (${record.error})` : ""}; ${decision}` };
}

/**
 * A reference's value at plan time: a configuration field of the resource it
 * names, from that resource's (resolved) configuration (but a force-new
 * field of a resource being replaced is the replacement's, known only after
 * apply: what holds it in a force-new field is replaced too); else, while
 * that resource stays unchanged (a ghost included), its recorded outputs;
 * else known only after apply.
 * A sensitive source (isSensitiveField) gives its value marked, so that the
 * field it lands in is masked and sealed too.
 */
async function valueAtPlan(resource: ResourceModule, expression: string, planning: PlanningContext): Promise<JsonValue | typeof UNKNOWN | SensitiveValue> {
  const ref = resource.references.find((r) => r.expression === expression);
  const target = ref && (await planning.planned.get(ref.target));
  if (!ref || !target?.resource) throw new WfctlError(ErrorCode.INTERNAL, `${resource.name}: reference \${${expression}} has no planned target`);
  const top = ref.field.split(".")[0] ?? ref.field;
  const fields = (await planning.sessions.get(target.provider)).schema.types.get(target.type) ?? {};
  if (!fields[top]?.computed && (fields[top]?.sensitive || target.sensitiveFields.includes(top))) {
    // State keeps it sealed, so apply could not resolve it; and it must not be copied into another resource's plain state.
    const what = fields[top]?.sensitive
      ? "is sensitive configuration"
      : target.resource.sensitiveFields.includes(top)
        ? "holds a sensitive variable's value"
        : "holds a sensitive value (through its own references)";
    throw new WfctlError(
      ErrorCode.CONFIG_INVALID,
      `module "${resource.baseName}": reference \${${expression}}: field "${ref.field}" of "${ref.target}" ${what}, which state keeps sealed; reference ${fields[top]?.sensitive ? "an output" : "that value's source"} instead`,
    );
  }
  const value = plainValueAtPlan(target, target.resource.config, ref.field, expression, fields);
  return isSensitiveField(fields, ref.field) ? new SensitiveValue(value) : value;
}

/** The value valueAtPlan gives for `field` of `target` (whose resolved configuration is `config`), before its sensitivity is considered. */
function plainValueAtPlan(target: PlannedChange, config: JsonObject, field: string, expression: string, fields: FieldMap): JsonValue | typeof UNKNOWN {
  const top = field.split(".")[0] ?? field;
  const configured = config[top];
  if (configured !== undefined && !fields[top]?.computed) {
    if (configured === KNOWN_AFTER_APPLY) return UNKNOWN;
    // A field that forces a new one when it changes is part of what it is: the replacement's is known once it exists.
    if (target.action === "replace" && fields[top]?.forceNew) return UNKNOWN;
    const value = valueAt(config, field);
    if (value !== undefined) return value;
  }
  // A ghost is unchanged too: its record stays in state (apply resolves from it), so what refers to it stays unchanged.
  if (target.action === "noop" && target.prior) return fieldOfRecord(target.refreshed ?? target.prior, field, expression);
  return UNKNOWN;
}

/** `observed` with the configuration's metadata, confirmed, if it differs from the record at all. */
function refreshedRecord(prior: ResourceState, observed: ResourceState, resource: ResourceModule): ResourceState | undefined {
  const next = { ...observed, protected: resource.protected, dependsOn: resource.dependsOn, status: RecordStatus.ACTIVE, error: "" };
  const same =
    sameConfig(prior.config, next.config) &&
    jsonEqual(prior.outputs, next.outputs) &&
    prior.protected === next.protected &&
    jsonEqual(prior.dependsOn, next.dependsOn) &&
    prior.status === next.status &&
    prior.providerId === next.providerId;
  return same ? undefined : { ...next, updatedAt: new Date().toISOString() };
}

/**
 * The configuration with its references resolved as far as they can be now,
 * the fields known only after apply, and those holding a sensitive value.
 */
async function desiredConfig(resource: ResourceModule, planning: PlanningContext): Promise<{ desired: ResourceModule["config"]; unknown: string[]; sensitive: string[] }> {
  // Most resources refer to nothing: their configuration is final and was validated already.
  // Fields a sensitive input variable went into are sensitive too (config/variable-substitution.ts).
  if (!hasReferences(resource.config)) return { desired: resource.config, unknown: [], sensitive: [...resource.sensitiveFields] };
  const resolved = await resolveReferences(resource.config, (expression) => valueAtPlan(resource, expression, planning));
  const { config: desired, unknown } = resolved;
  const fieldsOfType = (await planning.sessions.get(resource.provider)).schema.types.get(resource.type) ?? {};
  const known = Object.fromEntries(Object.entries(desired).filter(([field]) => !unknown.includes(field)));
  const invalid = validateFields(known, fieldsOfType).filter((p) => !unknown.includes(p.field.split(".")[0] ?? ""));
  if (invalid.length > 0) {
    const details = invalid.map((p) => moduleProblem(planning.config, resource, p.field, `${p.message} (after resolving references)`));
    throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(planning.config.file, details), { details });
  }
  return { desired, unknown, sensitive: [...new Set([...resource.sensitiveFields, ...topFields(resolved.sensitive)])].sort() };
}

/** What the provider reads for a recorded resource now: undefined when it is gone. */
async function readNow(record: ResourceState, planning: PlanningContext): Promise<ResourceState | undefined> {
  const handle = await planning.sessions.get(record.provider);
  const read = await handle.client.read(
    { resource: { name: record.resourceId, type: record.resourceType }, prior: priorStateOf(record) },
    callOptions(planning.ctx, planning.config.env, CALL_TIMEOUTS.quick),
  );
  if (!read.found) return undefined;
  return withFields(record, {
    providerId: read.providerId || record.providerId,
    config: decodeJsonObject(read.configJson, `${record.resourceId}: read config_json`),
    outputs: read.outputsJson.byteLength > 0 ? decodeJsonObject(read.outputsJson, `${record.resourceId}: read outputs_json`) : record.outputs,
  });
}

/**
 * `change` with the fields that hold a sensitive value marked: those a
 * reference filled with one (`sensitive`), and any whose value, before or
 * after, or as recorded, is a seal (a value state keeps sealed stays masked,
 * even once nothing sensitive flows into it any more).
 */
function withSensitivity(change: PlannedChange, sensitive: readonly string[], recorded: ResourceState | undefined): PlannedChange {
  const masked = (field: string, before: JsonValue | undefined, after: JsonValue | undefined): boolean => {
    const top = field.split(".")[0] ?? field;
    return sensitive.includes(top) || isSealed(before) || isSealed(after) || isSealed(recorded?.config[top]);
  };
  return {
    ...change,
    sensitiveFields: [...sensitive],
    fields: change.fields.map((f) => (f.sensitive || !masked(f.field, f.before, f.after) ? f : { ...f, sensitive: true })),
  };
}

/** Plans one configured resource against what `recorded` says (undefined: nothing recorded). */
export async function planResource(resource: ResourceModule, recorded: ResourceState | undefined, planning: PlanningContext): Promise<PlannedChange> {
  const { desired, unknown, sensitive } = await desiredConfig(resource, planning);
  return withSensitivity(await planAgainst(resource, recorded, planning, desired, unknown), sensitive, recorded);
}

/** Plans one configured resource, its configuration resolved to `desired` (the fields in `unknown` known only after apply). */
async function planAgainst(
  resource: ResourceModule,
  recorded: ResourceState | undefined,
  planning: PlanningContext,
  desired: ResourceModule["config"],
  unknown: readonly string[],
): Promise<PlannedChange> {
  const handle = await planning.sessions.get(resource.provider);
  const fieldsOfType = handle.schema.types.get(resource.type) ?? {};
  const resolved: ResourceModule = { ...resource, config: desired };
  // A resource that changed type or provider cannot be updated in place.
  const moved = recorded !== undefined && (recorded.resourceType !== resource.type || recorded.provider !== resource.provider);
  const base = { name: resource.name, type: resource.type, provider: resource.provider, dependsOn: resource.dependsOn, protected: resource.protected, resource: resolved, ghost: false, refreshed: undefined, recordOnly: false, recorded: undefined, sensitiveFields: [] };
  let prior = recorded;
  let observed: ResourceState | undefined;
  let recordedAs: PlannedChange["recorded"];
  if (recorded && !moved && planning.refresh) {
    // Plan against what exists now, as Terraform does: config drift made
    // out of band shows up as a change back to the configuration.
    observed = await readNow(recorded, planning);
    if (isUnconfirmed(recorded)) {
      recordedAs = recordedNote(recorded, observed ? "found, so it is adopted" : "not found, so it is created");
      // Found: what was found is the prior (with the id the provider gave). Gone: nothing is.
      prior = observed ? withFields(recorded, { providerId: observed.providerId }) : undefined;
    } else if (!observed) {
      return { ...base, action: "noop", fields: [], prior: recorded, ghost: true };
    }
  }
  if (unknown.length > 0 && (prior === undefined || moved)) {
    // A create with values known only after apply: nothing for the provider to compare yet.
    const action = prior === undefined ? "create" : "replace";
    return { ...base, action, fields: diffFields(undefined, withDefaults(desired, fieldsOfType), fieldsOfType), prior, recorded: recordedAs };
  }
  // A value known only after apply is planned as what exists now, then listed as a change.
  const current = observed?.config ?? prior?.config ?? {};
  const asKnown = { ...desired, ...Object.fromEntries(unknown.flatMap((field) => (current[field] !== undefined ? [[field, current[field]]] : []))) };
  const comparedTo = prior && !moved ? (observed ?? prior) : undefined;
  // The plugin gets its schema's defaults filled in, and its answer loses the changes only a seal made (sealed-compare.ts).
  const sent = withDefaults(asKnown, fieldsOfType);
  const answer = await handle.client.plan(
    { resource: { name: resource.name, type: resource.type }, desiredConfigJson: encodeJson(sent), prior: comparedTo && priorStateOf(comparedTo) },
    callOptions(planning.ctx, planning.config.env, CALL_TIMEOUTS.quick),
  );
  const response = await settlePlanSeals(answer, comparedTo?.config, sent);
  const action = actionNames[response.action];
  if (!action || action === "delete" || (comparedTo === undefined && action !== "create")) {
    throw new WfctlError(ErrorCode.PROVIDER_ERROR, `${handle.instance.who}: planned ${Action[response.action] ?? response.action} for ${resource.name} (${resource.type}), which is not a valid plan for it`);
  }
  const fields: FieldDifference[] = response.changes.map((c) => ({
    field: c.field,
    before: decodeJsonValue(c.beforeJson, `${resource.name}: change of ${c.field}`) as JsonValue | undefined,
    after: decodeJsonValue(c.afterJson, `${resource.name}: change of ${c.field}`) as JsonValue | undefined,
    forcesReplace: c.forcesReplace,
    sensitive: c.sensitive,
  }));
  for (const field of unknown) {
    if (fields.some((f) => f.field === field)) continue;
    fields.push({ field, before: current[field], after: KNOWN_AFTER_APPLY, forcesReplace: fieldsOfType[field]?.forceNew ?? false, sensitive: fieldsOfType[field]?.sensitive ?? false });
  }
  const pending = unknown.length > 0 ? (fields.some((f) => f.forcesReplace) ? "replace" : action === "noop" ? "update" : action) : action;
  if (moved && recorded) {
    const typeChanged = recorded.resourceType !== resource.type;
    fields.unshift({ field: typeChanged ? "(type)" : "(provider)", before: typeChanged ? recorded.resourceType : recorded.provider, after: typeChanged ? resource.type : resource.provider, forcesReplace: true, sensitive: false });
  }
  return {
    ...base,
    action: moved ? "replace" : pending,
    fields,
    prior,
    recorded: recordedAs,
    refreshed: pending === "noop" && prior && !moved ? refreshedRecord(recorded ?? prior, observed ?? prior, resource) : undefined,
  };
}

/**
 * A delete of what state records. It is protected if the configuration says
 * so, or, for a resource no longer in the configuration, if state does: so
 * `protected: false` in the configuration takes effect at once. An
 * unconfirmed record is read first: found, it is deleted; gone, only its
 * record is removed.
 */
export async function planDelete(recorded: ResourceState, planning: PlanningContext): Promise<PlannedChange> {
  const configured = planning.configured.get(recorded.resourceId);
  const base = {
    name: recorded.resourceId,
    type: recorded.resourceType,
    provider: recorded.provider,
    action: "delete" as const,
    fields: [],
    dependsOn: recorded.dependsOn,
    protected: configured ? configured.protected : recorded.protected,
    resource: undefined,
    prior: recorded,
    ghost: false,
    refreshed: undefined,
    recordOnly: false,
    recorded: undefined,
    sensitiveFields: [],
  };
  if (!isUnconfirmed(recorded)) return base;
  const found = await readNow(recorded, planning);
  if (!found) return { ...base, recordOnly: true, recorded: recordedNote(recorded, "not found, so only its record is removed") };
  return { ...base, prior: withFields(recorded, { providerId: found.providerId }), recorded: recordedNote(recorded, "found, so it is deleted") };
}
