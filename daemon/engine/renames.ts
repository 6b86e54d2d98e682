// Renaming a state record (`wfctl infra state mv`, a `moved:` entry). A state
// store has no rename, so it is three steps: the record saved under its new
// name, the records that depend on it made to name it so, the old record
// deleted. Stopped between the first and the last (a kill, a store that
// fails), state holds the record twice, under both names, with the same
// provider id: never none. Both names then describe one resource, and wfctl
// treats them so (sameResource): a plan removes only the stale record (never
// the resource), and the same `state mv` run again finishes the rename.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type ResourceState, storeTimeout, withFields } from "../../proto/state-store.js";
import type { OperationContext } from "./context.js";
import type { SealingStore } from "./sealing.js";

/** How long one state write of a hand edit (import, state rm, a rename) may take; it finishes even when the operation is being cancelled. */
export const WRITE_TIMEOUT_MS = 60_000;

/** True when two records describe one resource: same provider module, type and (known) provider id. */
export function sameResource(a: ResourceState, b: ResourceState): boolean {
  return a.provider === b.provider && a.resourceType === b.resourceType && a.providerId !== "" && a.providerId === b.providerId;
}

/**
 * A record left by a rename that was interrupted: `record`, not configured,
 * describes the same resource as another record in `records` (the one
 * renamed). Its name, or undefined.
 */
export function renamedCopyOf(record: ResourceState, records: readonly ResourceState[]): string | undefined {
  return records.find((other) => other.resourceId !== record.resourceId && sameResource(other, record))?.resourceId;
}

/**
 * Renames `record` to `to` in `store`: saved under `to` (as it was, seals
 * included), then every record of `records` that depends on it updated,
 * then the old record deleted. Each write completes even if the operation
 * is being cancelled. A failure after the first write says what state holds
 * and how to finish.
 */
export async function renameRecord(store: SealingStore, record: ResourceState, to: string, records: readonly ResourceState[], ctx: OperationContext): Promise<void> {
  const from = record.resourceId;
  const write = () => storeTimeout(WRITE_TIMEOUT_MS);
  await store.copyRecord(withFields(record, { resourceId: to, updatedAt: new Date().toISOString() }), write());
  try {
    for (const other of records) {
      if (other.resourceId === from || other.resourceId === to || !other.dependsOn.includes(from)) continue;
      await store.copyRecord(withFields(other, { dependsOn: other.dependsOn.map((d) => (d === from ? to : d)) }), write());
    }
    await store.deleteState(from, write());
  } catch (err) {
    const error = WfctlError.from(err, ErrorCode.STATE_WRITE_FAILED);
    throw new WfctlError(
      error.code,
      `${from} was saved as ${to}, but the rename did not finish (${error.message}): state holds both records, which describe the same resource ` +
        `(plans remove only the stale record ${from}, never the resource). Run \`wfctl infra state mv ${from} ${to}\` again to finish`,
      { cause: error },
    );
  }
  ctx.log.info({ from, to }, "state record renamed");
}
