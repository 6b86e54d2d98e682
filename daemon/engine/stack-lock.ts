// The stack lock: every mutating operation holds the lock named "stack" on
// its state namespace while it runs, and releases it however it ends. An
// operator releases a lock whose holder died with `wfctl infra state unlock`.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { LockInfo, StateStore } from "../../proto/state-store.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import type { InfraConfig } from "../config/model.js";
import { describeBackend } from "../state/open.js";
import type { OperationContext } from "./context.js";
import type { AuditEntry, AuditSink } from "./refresh.js";
import type { Caller } from "./request.js";

/** The lock every mutating operation takes on its state namespace. */
export const STACK_LOCK = "stack";

/** Takes the stack lock for `operation`, or fails at once with LOCK_HELD naming the holder. */
export function takeStackLock(store: StateStore, caller: Caller, operation: string, ctx: OperationContext): Promise<LockInfo> {
  return store.lock(STACK_LOCK, { holder: `${caller.user} (pid ${caller.pid}, wfctld pid ${process.pid})`, operation, version: WFCTL_VERSION }, { signal: ctx.signal });
}

/** Releases a lock this operation took, whatever stopped it (a failure is logged). */
export async function releaseStackLock(store: StateStore, lock: LockInfo, ctx: OperationContext): Promise<void> {
  await store.unlock(STACK_LOCK, lock.lockId, { signal: AbortSignal.timeout(30_000) }).catch((err: unknown) => {
    ctx.log.error({ err: (err as Error).message, lock: lock.lockId }, "could not release the state lock");
  });
}

/** What `wfctl infra state unlock` reports. */
export interface UnlockResult {
  heldBy: string;
  audit: AuditEntry;
  backend: string;
  namespace: string;
}

/**
 * Releases the stack lock `lockId` (left by a holder that died), saying who
 * held it. Refuses when no lock is held, or the one held has another id:
 * it never releases a lock someone took since. Audited.
 */
export async function unlockStack(
  store: StateStore,
  config: InfraConfig,
  caller: Caller,
  lockId: string,
  ctx: OperationContext,
  audit: AuditSink,
): Promise<UnlockResult> {
  let heldBy: string;
  try {
    const probe = await store.lock(STACK_LOCK, { holder: `${caller.user} (wfctl infra state unlock)`, operation: "state unlock", version: WFCTL_VERSION }, { signal: ctx.signal });
    await store.unlock(STACK_LOCK, probe.lockId, { signal: AbortSignal.timeout(30_000) });
    throw new WfctlError(ErrorCode.NOT_FOUND, `no state lock is held in ${describeBackend(config)}: nothing to unlock`);
  } catch (err) {
    const error = WfctlError.from(err);
    if (error.code !== ErrorCode.LOCK_HELD) throw error;
    heldBy = error.message;
  }
  if (!heldBy.includes(`lock id ${lockId}`)) {
    throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `not unlocking: ${heldBy}, not ${lockId}. Check the id (it may have been released and taken again)`);
  }
  await store.unlock(STACK_LOCK, lockId, { signal: ctx.signal });
  const entry: AuditEntry = {
    time: new Date().toISOString(),
    action: "unlock",
    operation: "state unlock",
    resource: STACK_LOCK,
    type: "lock",
    environment: config.env,
    caller: caller.user,
    operationId: lockId,
  };
  audit(entry);
  ctx.log.warn({ audit: entry, held_by: heldBy }, `state lock ${lockId} released by hand`);
  return { heldBy, audit: entry, backend: describeBackend(config), namespace: config.namespace };
}
