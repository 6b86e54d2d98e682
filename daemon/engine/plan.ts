// Planning: what an apply (or a destroy) would do to each resource, with a
// field-level diff, computed by the providers from the configuration and the
// recorded state.
import { createHash } from "node:crypto";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { validateFields } from "../../proto/fields.js";
import { canonicalJson, type JsonValue } from "../../proto/json.js";
import type { StateStore } from "../../proto/state-store.js";
import { moduleProblem } from "../config/load.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import { findReferences } from "../config/references.js";
import { formatDetails } from "../config/source.js";
import type { OperationContext } from "./context.js";
import { topologicalOrder } from "./graph.js";
import type { Plan, PlannedChange } from "./plan-model.js";
import { type PlanningContext, planDelete, planResource } from "./plan-resource.js";
import type { ProviderSessions } from "./providers.js";
import { sealedOutputSources } from "./outputs.js";

export { type ChangeAction, type Plan, type PlannedChange, type PlanSummary, hasChanges, summarize } from "./plan-model.js";


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
  problems.push(...(await sealedOutputSources(config, sessions)));
  if (problems.length > 0) throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(config.file, problems), { details: problems });
}

/** Refuses outputs whose source field the plan found holding a sensitive value through a reference (state seals it). */
async function refuseTaintedOutputSources(config: InfraConfig, sessions: ProviderSessions, changes: readonly PlannedChange[]): Promise<void> {
  if (config.outputs.length === 0) return;
  const tainted = new Map(changes.map((c) => [c.name, c.sensitiveFields]));
  const problems = await sealedOutputSources(config, sessions, tainted);
  if (problems.length > 0) throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(config.file, problems), { details: problems });
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
  const plannedByName = new Map<string, Promise<PlannedChange>>();
  const planning: PlanningContext = { config, sessions, ctx, refresh: options.refresh !== false, planned: plannedByName };
  const announce = (change: PlannedChange) => ctx.emit({ kind: "resource", phase: "planned", name: change.name, type: change.type, action: change.action });

  if (!options.destroy) {
    await validateAgainstSchemas(config, sessions);
    const slots = new Slots(10);
    const planOne = async (resource: ResourceModule): Promise<PlannedChange> => {
      // Resources it refers to are planned first: their plans say whether a value is known yet.
      await Promise.all(resource.references.map((r) => plannedByName.get(r.target)?.catch(() => undefined)));
      await slots.take();
      try {
        const change = await planResource(resource, priorByName.get(resource.name), planning);
        announce(change);
        return change;
      } finally {
        slots.give();
      }
    };
    const byName = new Map(config.resources.map((r) => [r.name, r]));
    for (const name of topologicalOrder(config.resources)) {
      const resource = byName.get(name);
      if (resource) plannedByName.set(name, planOne(resource));
    }
    changes.push(...(await Promise.all(config.resources.map((r) => plannedByName.get(r.name) as Promise<PlannedChange>))));
    await refuseTaintedOutputSources(config, sessions, changes);
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
    const change = await planDelete(orphan, planning);
    announce(change);
    changes.push(change);
  }
  return { env: config.env, destroy: options.destroy, changes, fingerprint: fingerprint(changes, options.destroy) };
}
