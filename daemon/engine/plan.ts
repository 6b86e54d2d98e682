// Planning: what an apply (or a destroy) would do to each resource, with a
// field-level diff, computed by the providers from the configuration and the
// recorded state.
import { createHash, createHmac, randomBytes } from "node:crypto";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { validateFields } from "../../proto/fields.js";
import { canonicalJson, type JsonValue } from "../../proto/json.js";
import type { StateStore } from "../../proto/state-store.js";
import { moduleProblem } from "../config/load.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import { findReferences } from "../config/references.js";
import { formatDetails } from "../config/source.js";
import { type OperationContext, storeContext } from "./context.js";
import { topologicalOrder } from "./graph.js";
import type { Plan, PlannedChange } from "./plan-model.js";
import { type PlanningContext, planDelete, planResource } from "./plan-resource.js";
import { BATCHED_AT_ONCE } from "./provider-batch.js";
import { IaCBatchProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type PlanScope, forceReplace, selectScope } from "./plan-scope.js";
import type { ProviderSessions } from "./providers.js";
import { plannedMoves, staleCopyRemoval, withMove } from "./moves.js";
import { sealedOutputSources } from "./outputs.js";
import { withCreateBeforeDestroy } from "./create-before-destroy.js";
import { deposedDelete, deposedFrom } from "./deposed.js";

export { type ChangeAction, type Plan, type PlannedChange, type PlanSummary, hasChanges, summarize } from "./plan-model.js";
export type { PlanScope } from "./plan-scope.js";

/**
 * Keys the digest of a sensitive value in a fingerprint: random per process,
 * so a fingerprint (printed by `plan --json`) cannot be used to test guesses
 * of a secret. A plan and its apply run in the same daemon (or process).
 */
const SENSITIVE_KEY = randomBytes(32);

/** A field's value as the fingerprint covers it: a keyed digest when sensitive. */
function fingerprinted(value: JsonValue | undefined, sensitive: boolean): JsonValue {
  if (value === undefined) return null;
  return sensitive ? createHmac("sha256", SENSITIVE_KEY).update(canonicalJson(value)).digest("hex") : value;
}

function fingerprint(changes: readonly PlannedChange[], destroy: boolean): string {
  const essence = changes
    .filter((c) => c.action !== "noop" || c.movedFrom !== undefined)
    .map((c) => ({
      name: c.name,
      ...(c.movedFrom !== undefined ? { moved_from: c.movedFrom } : {}),
      type: c.type,
      action: c.action,
      ...(c.createBeforeDestroy ? { create_before_destroy: true } : {}),
      fields: c.fields.map((f) => ({ field: f.field, before: fingerprinted(f.before, f.sensitive), after: fingerprinted(f.after, f.sensitive) })),
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
  options: { destroy: boolean; refresh?: boolean } & Partial<PlanScope>,
): Promise<Plan> {
  const priors = await store.listStates({}, storeContext(ctx));
  const priorByName = new Map(priors.map((p) => [p.resourceId, p]));
  // `moved:` entries: the record `from` is planned as its new name.
  const moves = plannedMoves(config, options.destroy ? [] : priors);
  for (const [to, { record }] of moves) priorByName.set(to, record);
  const scope = { targets: options.targets ?? [], replace: options.replace ?? [] };
  const selection = selectScope(config, priors, scope, options.destroy);
  const warnings = [...selection.warnings];
  const replace = new Set(scope.replace);
  const changes: PlannedChange[] = [];
  const plannedByName = new Map<string, Promise<PlannedChange>>();
  const configured = new Map(config.resources.map((r) => [r.name, r]));
  const planning: PlanningContext = { config, sessions, ctx, refresh: options.refresh !== false, planned: plannedByName, configured };
  const announce = (change: PlannedChange) => ctx.emit({ kind: "resource", phase: "planned", name: change.name, type: change.type, action: change.action });

  if (!options.destroy) {
    await validateAgainstSchemas(config, sessions);
    // How many resources of one provider are planned at once: 10 (Terraform's parallelism) for a provider
    // taking single calls; for one serving IaCBatchProvider, enough to fill its batches (it bounds its own work).
    const slotsOf = new Map<string, Promise<Slots>>();
    const slotsFor = (provider: string) => {
      let slots = slotsOf.get(provider);
      if (!slots) {
        slots = sessions.get(provider).then((handle) => new Slots(handle.instance.serves(IaCBatchProvider) ? BATCHED_AT_ONCE : 10));
        slotsOf.set(provider, slots);
      }
      return slots;
    };
    const planOne = async (resource: ResourceModule): Promise<PlannedChange> => {
      // Resources it refers to are planned first: their plans say whether a value is known yet.
      await Promise.all(resource.references.map((r) => plannedByName.get(r.target)?.catch(() => undefined)));
      const slots = await slotsFor(resource.provider);
      await slots.take();
      try {
        const planned = withMove(await planResource(resource, priorByName.get(resource.name), planning), moves.get(resource.name));
        const change = replace.has(resource.name) ? forceReplace(planned, warnings) : planned;
        announce(change);
        return change;
      } finally {
        slots.give();
      }
    };
    const inScope = config.resources.filter((r) => selection.resources?.has(r.name) ?? true);
    const byName = new Map(inScope.map((r) => [r.name, r]));
    for (const name of topologicalOrder(inScope)) {
      const resource = byName.get(name);
      if (resource) plannedByName.set(name, planOne(resource));
    }
    changes.push(...withCreateBeforeDestroy(await Promise.all(inScope.map((r) => plannedByName.get(r.name) as Promise<PlannedChange>))));
    await refuseTaintedOutputSources(config, sessions, changes);
  }

  const wanted = new Set(options.destroy ? [] : config.resources.map((r) => r.name));
  const movedAway = new Set([...moves.values()].map((m) => m.from));
  const orphans = priors.filter((p) => !wanted.has(p.resourceId) && !movedAway.has(p.resourceId) && (selection.records?.has(p.resourceId) ?? true));
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
    const planned = await planDelete(orphan, planning);
    const change = deposedFrom(orphan.resourceId) !== undefined ? deposedDelete(planned, changes) : (staleCopyRemoval(planned, priors, wanted) ?? planned);
    announce(change);
    changes.push(change);
  }
  return { env: config.env, destroy: options.destroy, changes, fingerprint: fingerprint(changes, options.destroy), targets: [...scope.targets], warnings, priors };
}
