// Refresh: bringing state in line with what exists, without touching any
// resource. Ghosts (state has them, the provider says they are gone) are
// pruned under the two-key rule for protected ones; every other record takes
// the configuration and outputs its provider reads now. Everything that can
// fail (detection, the checks, the reads) happens before the first write, so
// an error leaves state as it was.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type FieldDifference, type FieldMap, diffFields } from "../../proto/fields.js";
import { decodeJsonObject } from "../../proto/json.js";
import { RecordStatus, type ResourceState, type StateStore, type StoreContext, isUnconfirmed, priorStateOf, storeTimeout, withFields } from "../../proto/state-store.js";
import type { InfraConfig } from "../config/model.js";
import type { Peer } from "./request.js";
import { CALL_TIMEOUTS, type OperationContext, callOptions } from "./context.js";
import { describeBackend } from "../state/open.js";
import { type DriftFinding, detectDrift } from "./drift.js";
import type { ProviderSessions } from "./providers.js";
import { DEFAULT_PARALLELISM, runTasks } from "./scheduler.js";
import type { OpenedTarget } from "./target.js";

/** One audit record: a change to state made outside a resource's own apply. */
export interface AuditEntry {
  time: string;
  /**
   * "prune": a ghost's record removed; "unlock": a state lock released by
   * hand; "import", "state rm", "state mv": records adopted, forgotten,
   * renamed by hand (state-edits.ts); "moved": renamed by a `moved:` entry.
   */
  action: "prune" | "unlock" | "import" | "state rm" | "state mv" | "moved";
  operation: string;
  resource: string;
  type: string;
  environment: string;
  /** Who the client says it is (user@host). */
  caller: string;
  /** What the daemon knows of the client's process, when the call established it. */
  peer?: Peer;
  operationId: string;
}

/** Where audit entries go (the daemon's audit log). */
export type AuditSink = (entry: AuditEntry) => void;

export interface RefreshOptions {
  /** Say what would change; change nothing and take no lock. */
  dryRun: boolean;
  allowProtectedPrune: boolean;
}

export interface RefreshResult {
  drift: DriftFinding[];
  /** Audit entries of the ghosts pruned (with dryRun: of those that would be). */
  pruned: AuditEntry[];
  updated: RefreshUpdate[];
  /** With dryRun: protected ghosts whose pruning would be refused. */
  blocked: DriftFinding[];
  dryRun: boolean;
  backend: string;
  namespace: string;
}

/** A record refresh rewrites, and the fields that change. */
export interface RefreshUpdate {
  finding: DriftFinding;
  record: ResourceState;
  fields: FieldDifference[];
}

/**
 * Refuses to prune ghosts of protected resources unless allowed; checks every
 * ghost before any is pruned, and names every blocked one in the one error.
 */
export function checkPrunable(ghosts: readonly DriftFinding[], allowProtected: boolean): void {
  // An unconfirmed record that is not found never described anything that existed: nothing to protect.
  const blocked = ghosts.filter((g) => g.protected && !isUnconfirmed(g.record));
  if (blocked.length > 0 && !allowProtected) {
    throw new WfctlError(
      ErrorCode.PROTECTED_RESOURCE,
      `refusing to prune protected resource(s) from state: ${blocked.map((g) => `${g.name} (${g.type})`).join(", ")}; nothing was pruned. ` +
        "They are gone from the provider but marked protected: check why, then run again with --allow-protected-prune to prune them",
    );
  }
}

/** The ghosts among the findings. */
export function ghostsOf(findings: readonly DriftFinding[]): DriftFinding[] {
  return findings.filter((f) => f.class === "ghost");
}

/** The audit entry for pruning `ghost` in the operation `operation` (e.g. "apply --refresh"), by `peer` when established. */
export function pruneEntry(ghost: DriftFinding, operation: string, config: InfraConfig, ctx: OperationContext, peer?: Peer): AuditEntry {
  return {
    time: new Date().toISOString(),
    action: "prune",
    operation,
    resource: ghost.name,
    type: ghost.type,
    environment: config.env,
    caller: ctx.caller.user,
    ...(peer ? { peer } : {}),
    operationId: ctx.operationId,
  };
}

/**
 * Removes each ghost's record, one audit entry each (to `audit` and the
 * operation log) as it goes. State writes finish even if the operation is
 * being cancelled: each prune is one whole step.
 */
export async function pruneGhosts(
  ghosts: readonly DriftFinding[],
  operation: string,
  config: InfraConfig,
  store: StateStore,
  ctx: OperationContext,
  audit: AuditSink,
): Promise<AuditEntry[]> {
  const pruned: AuditEntry[] = [];
  // Who is asking, as the daemon knows it, for the audit lines; another user is refused here, before any prune.
  const peer = ghosts.length > 0 ? await ctx.caller.peer?.() : undefined;
  for (const ghost of ghosts) {
    await store.deleteState(ghost.name, storeTimeout(60_000));
    const entry = pruneEntry(ghost, operation, config, ctx, peer);
    pruned.push(entry);
    audit(entry);
    ctx.emit({ kind: "resource", phase: "finished", name: ghost.name, type: ghost.type, action: "prune", durationMs: 0, message: "ghost pruned from state" });
    ctx.log.warn({ audit: entry }, `pruned ghost ${ghost.name} (${ghost.type}) from state`);
  }
  return pruned;
}

/**
 * What every record that is not a ghost would become if state took what its
 * provider reads now. Reads all of them first; any failure rejects (nothing
 * partial). Records that would not change are left out.
 */
export async function readUpdates(
  findings: readonly DriftFinding[],
  config: InfraConfig,
  sessions: ProviderSessions,
  ctx: OperationContext,
  parallelism: number,
): Promise<RefreshUpdate[]> {
  const updates = new Map<string, RefreshUpdate>();
  const vanished: string[] = [];
  const live = findings.filter((f) => f.class !== "ghost");
  const outcomes = await runTasks(
    live.map((finding) => ({
      id: finding.name,
      after: [],
      run: async () => {
        const { record } = finding;
        const handle = await sessions.get(record.provider);
        const fields = handle.schema.types.get(record.resourceType) ?? {};
        const read = await handle.client.read(
          {
            resource: { name: record.resourceId, type: record.resourceType },
            prior: priorStateOf(record),
          },
          callOptions(ctx, config.env, CALL_TIMEOUTS.quick),
        );
        if (!read.found) {
          // Gone between detection and now (or a provider without drift
          // classes): not pruned here, since the ghost rules were not applied to it.
          vanished.push(record.resourceId);
          return;
        }
        const observed = decodeJsonObject(read.configJson, `${record.resourceId}: read config_json`);
        const outputs = read.outputsJson.byteLength > 0 ? decodeJsonObject(read.outputsJson, `${record.resourceId}: read outputs_json`) : record.outputs;
        const changed = [...diffFields(record.config, observed, fields), ...diffFields(record.outputs, outputs, withComputed(fields))];
        // An unconfirmed record that was found is confirmed, with the id its provider gave.
        if (changed.length === 0 && !isUnconfirmed(record)) return;
        updates.set(record.resourceId, {
          finding,
          record: withFields(record, {
            config: observed,
            outputs,
            status: RecordStatus.ACTIVE,
            error: "",
            providerId: read.providerId || record.providerId,
            updatedAt: new Date().toISOString(),
          }),
          fields: changed,
        });
      },
    })),
    { parallelism, signal: ctx.signal },
  );
  const failed = [...outcomes.entries()].filter(([, o]) => o.outcome !== "succeeded");
  if (failed.length > 0) {
    const [id, first] = failed[0] as [string, (typeof failed)[number][1]];
    const why = first.outcome === "failed" ? first.error : WfctlError.from(ctx.signal.reason, ErrorCode.CANCELLED);
    throw new WfctlError(why.code, `refresh could not read ${id}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ""}: ${why.message}; state was not changed`, {
      cause: why,
    });
  }
  if (vanished.length > 0) ctx.log.warn({ resources: vanished }, "resources not found on refresh were left as recorded");
  return live.flatMap((f) => {
    const update = updates.get(f.name);
    return update ? [update] : [];
  });
}

/** The schema with `computed` cleared, so that outputs (computed fields) are compared too. */
function withComputed(fields: FieldMap): FieldMap {
  return Object.fromEntries(Object.entries(fields).map(([name, spec]) => [name, { ...spec, computed: false }]));
}

/** Writes the updated records. Like pruning, each write completes even during cancellation. */
export async function saveUpdates(updates: readonly RefreshUpdate[], store: StateStore, ctx: OperationContext): Promise<void> {
  for (const update of updates) {
    await store.saveState(update.record, storeTimeout(60_000));
    ctx.log.info({ resource: update.record.resourceId, fields: update.fields.map((f) => f.field) }, "state refreshed from the provider");
  }
}

/**
 * `store` as it will be once `hidden` are pruned: reads leave them out,
 * everything else goes through. Lets a plan be made (and refused) before any
 * prune is written.
 */
export function withoutRecords(store: StateStore, hidden: readonly string[]): StateStore {
  if (hidden.length === 0) return store;
  const gone = new Set(hidden);
  return {
    getState: (resourceId: string, ctx: StoreContext) => (gone.has(resourceId) ? Promise.resolve(undefined) : store.getState(resourceId, ctx)),
    listStates: async (filter, ctx) => (await store.listStates(filter, ctx)).filter((r) => !gone.has(r.resourceId)),
    saveState: (state, ctx) => store.saveState(state, ctx),
    deleteState: (resourceId, ctx) => store.deleteState(resourceId, ctx),
    lock: (resourceId, request, ctx) => store.lock(resourceId, request, ctx),
    unlock: (resourceId, lockId, ctx, options) => store.unlock(resourceId, lockId, ctx, options),
    close: () => store.close(),
  };
}

/**
 * Refresh-only: state takes what providers read now, ghosts are pruned
 * (protected ones only when allowed). No resource is changed. A dry run
 * writes nothing (and its caller takes no lock).
 */
export async function refreshState(ctx: OperationContext, { config, store, sessions }: OpenedTarget, options: RefreshOptions, audit: AuditSink): Promise<RefreshResult> {
  const drift = await detectDrift(config, store, sessions, ctx, DEFAULT_PARALLELISM);
  const ghosts = ghostsOf(drift);
  const summary = { drift, dryRun: options.dryRun, backend: describeBackend(config), namespace: config.namespace };
  if (options.dryRun) {
    const blocked = options.allowProtectedPrune ? [] : ghosts.filter((g) => g.protected);
    const updated = await readUpdates(drift, config, sessions, ctx, DEFAULT_PARALLELISM);
    const wouldPrune = blocked.length > 0 ? [] : ghosts.map((g) => pruneEntry(g, "refresh", config, ctx));
    return { ...summary, pruned: wouldPrune, updated, blocked };
  }
  checkPrunable(ghosts, options.allowProtectedPrune);
  // Every read before the first write: a failure leaves state as it was.
  const updated = await readUpdates(drift, config, sessions, ctx, DEFAULT_PARALLELISM);
  const pruned = await pruneGhosts(ghosts, "refresh", config, store, ctx, audit);
  await saveUpdates(updated, store, ctx);
  ctx.log.info({ pruned: pruned.length, updated: updated.length }, "refreshed");
  return { ...summary, pruned, updated, blocked: [] };
}
