// `moved:` entries in plans and applies: a record `from` (with no record
// `to`) is planned as the resource `to`, shown "moved from", and renamed
// before the apply changes anything (renames.ts), with an audit line. And
// a record left twice by an interrupted rename: the stale copy is planned
// as a removal of its record only, never of the resource both describe.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type ResourceState, withFields } from "../../proto/state-store.js";
import type { InfraConfig } from "../config/model.js";
import { type OperationContext, storeContext } from "./context.js";
import type { PlannedChange } from "./plan-model.js";
import type { AuditEntry, AuditSink } from "./refresh.js";
import { renameRecord, renamedCopyOf } from "./renames.js";
import { editEntry } from "./state-edits.js";
import type { OpenedTarget } from "./target.js";

/**
 * The `moved:` entries that apply to `records`: record `from` exists and
 * record `to` does not. Keyed by `to`, the record to plan it against (named
 * `to` already), and its old name.
 */
export function plannedMoves(config: InfraConfig, records: readonly ResourceState[]): Map<string, { record: ResourceState; from: string }> {
  const byName = new Map(records.map((r) => [r.resourceId, r]));
  const moves = new Map<string, { record: ResourceState; from: string }>();
  for (const { from, to } of config.moved) {
    const record = byName.get(from);
    if (!record || byName.has(to)) continue;
    const other = moves.get(to);
    if (other) {
      throw new WfctlError(
        ErrorCode.CONFIG_INVALID,
        `${config.file}: moved: state has both ${other.from} and ${from}, and both are moved to ${to}: one record per resource. Remove the entry of the record that is not ${to}'s (and \`wfctl infra state rm\` it if it describes nothing)`,
      );
    }
    moves.set(to, { record: withFields(record, { resourceId: to }), from });
  }
  return moves;
}

/** `change` marked as moved from `from` (when it is). */
export function withMove(change: PlannedChange, move: { from: string } | undefined): PlannedChange {
  return move ? { ...change, movedFrom: move.from } : change;
}

/**
 * For a record no longer configured: when it is a copy left by an
 * interrupted rename of a record that is (same provider id), the removal
 * of its record only; else undefined.
 */
export function staleCopyRemoval(change: PlannedChange, records: readonly ResourceState[], configured: ReadonlySet<string>): PlannedChange | undefined {
  const { prior } = change;
  if (!prior || change.action !== "delete") return undefined;
  const twin = renamedCopyOf(prior, records.filter((r) => configured.has(r.resourceId)));
  if (twin === undefined) return undefined;
  return { ...change, recordOnly: true, recorded: { status: prior.status, note: `describes the same resource as ${twin} (left by an interrupted rename): only this record is removed` } };
}

/**
 * Renames the records the plan's `moved:` entries move, before any change,
 * one audit entry each (action "moved"). Each change's prior already has its
 * new name.
 */
export async function applyMoves(changes: readonly PlannedChange[], { config, store }: OpenedTarget, ctx: OperationContext, audit: AuditSink): Promise<AuditEntry[]> {
  const moving = changes.filter((c) => c.movedFrom && c.prior);
  if (moving.length === 0) return [];
  const peer = await ctx.caller.peer?.();
  const entries: AuditEntry[] = [];
  let records = await store.listStates({}, storeContext(ctx));
  for (const change of moving) {
    const from = change.movedFrom as string;
    const record = records.find((r) => r.resourceId === from);
    if (!record) throw new WfctlError(ErrorCode.PLAN_STALE, `moved: record ${from} is gone since the plan was made; nothing was applied`);
    const entry = editEntry("moved", `${ctx.operation} (moved: ${from} → ${change.name})`, record, config, ctx, peer);
    audit(entry);
    await renameRecord(store, record, change.name, records, ctx);
    ctx.emit({ kind: "resource", phase: "finished", name: change.name, type: change.type, action: "move", durationMs: 0, message: `record renamed from ${from}` });
    entries.push(entry);
    records = records.flatMap((r) => (r.resourceId === from ? [] : [withFields(r, { dependsOn: r.dependsOn.map((d) => (d === from ? change.name : d)) })]));
  }
  return entries;
}
