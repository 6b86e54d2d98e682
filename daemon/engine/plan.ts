// Planning: what an apply (or a destroy) would do to each resource, with a
// field-level diff, computed by the providers from the configuration and the
// recorded state.
import { createHash } from "node:crypto";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { type FieldDifference, diffFields, validateFields, withDefaults } from "../../proto/fields.js";
import { Action } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { sameConfig } from "../../proto/sealed.js";
import { canonicalJson, decodeJsonObject, decodeJsonValue, encodeJson, jsonEqual, type JsonValue } from "../../proto/json.js";
import type { ResourceState, StateStore } from "../../proto/state-store.js";
import { moduleProblem } from "../config/load.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import { KNOWN_AFTER_APPLY, UNKNOWN, fieldOfRecord, findReferences, hasReferences, resolveReferences, valueAt } from "../config/references.js";
import { formatDetails } from "../config/source.js";
import { topologicalOrder } from "./graph.js";
import { CALL_TIMEOUTS, type OperationContext, callOptions } from "./context.js";
import type { ProviderSessions } from "./providers.js";

export type ChangeAction = "noop" | "create" | "update" | "replace" | "delete";

export interface PlannedChange {
  name: string;
  type: string;
  /** The iac.provider module that manages it. */
  provider: string;
  action: ChangeAction;
  fields: FieldDifference[];
  /** For create/update/replace: from the configuration; for delete: from state. */
  dependsOn: string[];
  protected: boolean;
  /** The configuration to apply (absent for a delete). */
  resource: ResourceModule | undefined;
  /** What state records (absent for a create). */
  prior: ResourceState | undefined;
  /**
   * State records it but its provider says it is gone. Planned as no change:
   * pruning the record (then re-creating) is `apply --refresh`'s job.
   */
  ghost: boolean;
  /**
   * For an unchanged resource: its record as it should now be (what the
   * provider read, the configuration's protected and depends_on), when that
   * differs from what state holds. Apply saves it, as Terraform persists a
   * refresh; plan does not.
   */
  refreshed: ResourceState | undefined;
}

export interface Plan {
  env: string;
  destroy: boolean;
  changes: PlannedChange[];
  /** Hash of what would change; an approved plan must still match it at apply time. */
  fingerprint: string;
}

export type PlanSummary = Record<ChangeAction, number>;

export function summarize(plan: Plan): PlanSummary {
  const summary: PlanSummary = { create: 0, update: 0, replace: 0, delete: 0, noop: 0 };
  for (const change of plan.changes) summary[change.action]++;
  return summary;
}

export function hasChanges(plan: Plan): boolean {
  return plan.changes.some((c) => c.action !== "noop");
}

const actionNames: Partial<Record<Action, ChangeAction>> = {
  [Action.NOOP]: "noop",
  [Action.CREATE]: "create",
  [Action.UPDATE]: "update",
  [Action.REPLACE]: "replace",
  [Action.DELETE]: "delete",
};

function fingerprint(changes: readonly PlannedChange[], destroy: boolean): string {
  const essence = changes
    .filter((c) => c.action !== "noop")
    .map((c) => ({
      name: c.name,
      type: c.type,
      action: c.action,
      fields: c.fields.map((f) => ({ field: f.field, before: f.before ?? null, after: f.after ?? null })),
    }));
  return createHash("sha256").update(canonicalJson({ destroy, changes: essence } as unknown as JsonValue)).digest("hex").slice(0, 32);
}

/** At most `limit` holders at once; take() waits for a free slot. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.free = limit;
  }

  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/**
 * A reference's value at plan time: a configuration field of the resource it
 * names, from that resource's (resolved) configuration; else, while that
 * resource stays unchanged, its recorded outputs; else known only after apply.
 */
async function valueAtPlan(
  resource: ResourceModule,
  expression: string,
  planned: ReadonlyMap<string, Promise<PlannedChange>>,
  sessions: ProviderSessions,
): Promise<JsonValue | typeof UNKNOWN> {
  const ref = resource.references.find((r) => r.expression === expression);
  const target = ref && (await planned.get(ref.target));
  if (!ref || !target?.resource) throw new WfctlError(ErrorCode.INTERNAL, `${resource.name}: reference \${${expression}} has no planned target`);
  const top = ref.field.split(".")[0] ?? ref.field;
  const fields = (await sessions.get(target.provider)).schema.types.get(target.type) ?? {};
  if (fields[top]?.sensitive && !fields[top]?.computed) {
    // State keeps it sealed, so apply could not resolve it; and it must not be copied into another resource's plain state.
    throw new WfctlError(
      ErrorCode.CONFIG_INVALID,
      `module "${resource.baseName}": reference \${${expression}}: field "${ref.field}" of "${ref.target}" is sensitive configuration, which state keeps sealed; reference an output instead`,
    );
  }
  const configured = target.resource.config[top];
  if (configured !== undefined && !fields[top]?.computed) {
    if (configured === KNOWN_AFTER_APPLY) return UNKNOWN;
    const value = valueAt(target.resource.config, ref.field);
    if (value !== undefined) return value;
  }
  if (target.action === "noop" && !target.ghost && target.prior) return fieldOfRecord(target.refreshed ?? target.prior, ref.field, expression);
  return UNKNOWN;
}

/** Checks every resource against its provider's schema; all problems at once, located in the file. */
async function validateAgainstSchemas(config: InfraConfig, sessions: ProviderSessions): Promise<void> {
  const problems: ErrorDetail[] = [];
  for (const resource of config.resources) {
    const handle = await sessions.get(resource.provider);
    const fields = handle.schema.types.get(resource.type);
    if (!fields) {
      const known = [...handle.schema.types.keys()].sort().join(", ");
      problems.push({
        ...moduleProblem(config, resource, undefined, `unknown resource type "${resource.type}" for provider "${resource.provider}" (plugin "${handle.module.plugin}" manages: ${known})`),
        field: "type",
      });
      continue;
    }
    // A field holding a reference is checked once its value is known (when planned).
    const referencing = new Set(findReferences(resource.config).map((r) => String(r.path[0])));
    for (const p of validateFields(resource.config, fields)) {
      if (!referencing.has(p.field.split(".")[0] ?? "")) problems.push(moduleProblem(config, resource, p.field, p.message));
    }
  }
  if (problems.length > 0) throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(config.file, problems), { details: problems });
}

/**
 * A delete of what state records. It is protected if the configuration says
 * so, or, for a resource no longer in the configuration, if state does: so
 * `protected: false` in the configuration takes effect at once.
 */
function deleteChange(prior: ResourceState, config: InfraConfig): PlannedChange {
  const configured = config.resources.find((r) => r.name === prior.resourceId);
  return {
    name: prior.resourceId,
    type: prior.resourceType,
    provider: prior.provider,
    action: "delete",
    fields: [],
    dependsOn: prior.dependsOn,
    protected: configured ? configured.protected : prior.protected,
    resource: undefined,
    prior,
    ghost: false,
    refreshed: undefined,
  };
}

/** `observed` with the configuration's metadata, if it differs from the record at all. */
function refreshedRecord(prior: ResourceState, observed: ResourceState, resource: ResourceModule): ResourceState | undefined {
  const next = { ...observed, protected: resource.protected, dependsOn: resource.dependsOn };
  const same =
    sameConfig(prior.config, next.config) &&
    jsonEqual(prior.outputs, next.outputs) &&
    prior.protected === next.protected &&
    jsonEqual(prior.dependsOn, next.dependsOn);
  return same ? undefined : { ...next, updatedAt: new Date().toISOString() };
}

/** Plans an apply (or, with `destroy`, a destroy) of `config` against what `store` records. */
export async function computePlan(
  config: InfraConfig,
  store: StateStore,
  sessions: ProviderSessions,
  ctx: OperationContext,
  options: { destroy: boolean; refresh?: boolean },
): Promise<Plan> {
  const priors = await store.listStates({}, { signal: ctx.signal });
  const priorByName = new Map(priors.map((p) => [p.resourceId, p]));
  const changes: PlannedChange[] = [];

  if (!options.destroy) {
    await validateAgainstSchemas(config, sessions);
    const slots = new Slots(10);
    const plannedByName = new Map<string, Promise<PlannedChange>>();
    const planOne = async (resource: ResourceModule): Promise<PlannedChange> => {
      // Resources it refers to are planned first: their plans say whether a value is known yet.
      await Promise.all(resource.references.map((r) => plannedByName.get(r.target)?.catch(() => undefined)));
      await slots.take();
      try {
        const change = await planResource(resource);
        ctx.emit({ kind: "resource", phase: "planned", name: change.name, type: change.type, action: change.action });
        return change;
      } finally {
        slots.give();
      }
    };
    const planResource = async (resource: ResourceModule): Promise<PlannedChange> => {
      const prior = priorByName.get(resource.name);
      const handle = await sessions.get(resource.provider);
      const fieldsOfType = handle.schema.types.get(resource.type) ?? {};
      // Most resources refer to nothing: their configuration is final and was validated already.
      const resolving = hasReferences(resource.config);
      const { config: desired, unknown } = !resolving
        ? { config: resource.config, unknown: [] as string[] }
        : await resolveReferences(resource.config, (expression) => valueAtPlan(resource, expression, plannedByName, sessions));
      if (resolving) {
        const known = Object.fromEntries(Object.entries(desired).filter(([field]) => !unknown.includes(field)));
        const invalid = validateFields(known, fieldsOfType).filter((p) => !unknown.includes(p.field.split(".")[0] ?? ""));
        if (invalid.length > 0) {
          const details = invalid.map((p) => moduleProblem(config, resource, p.field, `${p.message} (after resolving references)`));
          throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(config.file, details), { details });
        }
      }
      const resolved: ResourceModule = { ...resource, config: desired };
      // A resource that changed type or provider cannot be updated in place.
      const moved = prior !== undefined && (prior.resourceType !== resource.type || prior.provider !== resource.provider);
      let priorMessage = prior && !moved ? { providerId: prior.providerId, configJson: encodeJson(prior.config), outputsJson: encodeJson(prior.outputs) } : undefined;
      let observed: ResourceState | undefined;
      if (prior && priorMessage && options.refresh !== false) {
        // Plan against what exists now, as Terraform does: config drift made
        // out of band shows up as a change back to the configuration.
        const read = await handle.client.read(
          { resource: { name: resource.name, type: resource.type }, prior: priorMessage },
          callOptions(ctx, config.env, CALL_TIMEOUTS.quick),
        );
        if (!read.found) {
          return { name: resource.name, type: resource.type, provider: resource.provider, action: "noop", fields: [], dependsOn: resource.dependsOn, protected: resource.protected, resource: resolved, prior, ghost: true, refreshed: undefined };
        }
        priorMessage = { ...priorMessage, configJson: read.configJson, outputsJson: read.outputsJson.byteLength > 0 ? read.outputsJson : priorMessage.outputsJson };
        observed = {
          ...prior,
          config: decodeJsonObject(read.configJson, `${resource.name}: read config_json`),
          outputs: read.outputsJson.byteLength > 0 ? decodeJsonObject(read.outputsJson, `${resource.name}: read outputs_json`) : prior.outputs,
        };
      }
      if (unknown.length > 0 && (prior === undefined || moved)) {
        // A create with values known only after apply: nothing for the provider to compare yet.
        return {
          name: resource.name,
          type: resource.type,
          provider: resource.provider,
          action: prior === undefined ? "create" : "replace",
          fields: diffFields(undefined, withDefaults(desired, fieldsOfType), fieldsOfType),
          dependsOn: resource.dependsOn,
          protected: resource.protected,
          resource: resolved,
          prior,
          ghost: false,
          refreshed: undefined,
        };
      }
      // A value known only after apply is planned as what exists now, then listed as a change.
      const current = observed?.config ?? prior?.config ?? {};
      const asKnown = { ...desired, ...Object.fromEntries(unknown.flatMap((field) => (current[field] !== undefined ? [[field, current[field]]] : []))) };
      const response = await handle.client.plan(
        { resource: { name: resource.name, type: resource.type }, desiredConfigJson: encodeJson(asKnown), prior: priorMessage },
        callOptions(ctx, config.env, CALL_TIMEOUTS.quick),
      );
      const action = actionNames[response.action];
      if (!action || action === "delete" || (prior === undefined && action !== "create")) {
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
      if (moved && prior) {
        fields.unshift({ field: prior.resourceType !== resource.type ? "(type)" : "(provider)", before: prior.resourceType !== resource.type ? prior.resourceType : prior.provider, after: prior.resourceType !== resource.type ? resource.type : resource.provider, forcesReplace: true, sensitive: false });
      }
      return {
        name: resource.name,
        type: resource.type,
        provider: resource.provider,
        action: moved ? "replace" : pending,
        fields,
        dependsOn: resource.dependsOn,
        protected: resource.protected,
        resource: resolved,
        prior,
        ghost: false,
        refreshed: pending === "noop" && prior && !moved ? refreshedRecord(prior, observed ?? prior, resource) : undefined,
      };
    };
    const byName = new Map(config.resources.map((r) => [r.name, r]));
    for (const name of topologicalOrder(config.resources)) {
      const resource = byName.get(name);
      if (resource) plannedByName.set(name, planOne(resource));
    }
    const planned = await Promise.all(config.resources.map((r) => plannedByName.get(r.name) as Promise<PlannedChange>));
    changes.push(...planned);
  }

  const wanted = new Set(options.destroy ? [] : config.resources.map((r) => r.name));
  const orphans = priors.filter((p) => !wanted.has(p.resourceId));
  const unmanaged = orphans.filter((p) => !config.providers.has(p.provider));
  if (unmanaged.length > 0) {
    const lines = unmanaged.map((p) => `"${p.resourceId}" (${p.resourceType}) is managed by provider module "${p.provider}"`);
    throw new WfctlError(
      ErrorCode.CONFIG_INVALID,
      `${config.file}: state holds resources whose provider module is not in the configuration${config.env ? ` for environment "${config.env}"` : ""}: ${lines.join("; ")}. ` +
        "Add the provider module back so wfctl can delete them.",
    );
  }
  for (const orphan of orphans) {
    const change = deleteChange(orphan, config);
    ctx.emit({ kind: "resource", phase: "planned", name: change.name, type: change.type, action: change.action });
    changes.push(change);
  }
  return { env: config.env, destroy: options.destroy, changes, fingerprint: fingerprint(changes, options.destroy) };
}
