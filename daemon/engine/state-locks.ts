// The locks held in a state store, as data: what `wfctl infra state locks`
// lists and `state unlock` checks before it releases one. A store lists its
// locks (StateStore.listLocks, a plugin's ListLocks); one that cannot
// (UNSUPPORTED: a plugin answering UNIMPLEMENTED) is asked with a probing
// lock of the stack lock, whose LOCK_HELD error carries the holder in
// `lock` (ErrorDetails.lock). Nothing here reads an error's message.
import { ErrorCode, WfctlError, hasCode } from "../../proto/errors.js";
import { type LockInfo, type StateStore, type StoreContext, storeTimeout, unreadableLock } from "../../proto/state-store.js";
import { type Liveness, holderLiveness, holderOf, lockRequestFor, unlockCommand } from "./lock-holder.js";
import type { Caller, Target } from "./request.js";

/** The lock every mutating operation takes on its state namespace (stack-lock.ts). */
export const STACK_LOCK = "stack";

/** How long releasing a probe's lock may take, whatever the caller's signal says: a probe must not leave its lock behind. */
const PROBE_RELEASE_MS = 30_000;

/**
 * Who holds the stack lock, as a probing lock finds out: undefined when it
 * was free (the probe took it, and released it at once). A LOCK_HELD that
 * does not say which lock is held (a backend that breaks the contract) is a
 * lock with no id: only a forced release can name it.
 */
async function probeStackLock(store: StateStore, caller: Caller, operation: string, ctx: StoreContext): Promise<LockInfo | undefined> {
  let probe: LockInfo;
  try {
    probe = await store.lock(STACK_LOCK, lockRequestFor(caller, operation, `${caller.user} (${operation}: looking for the holder)`), ctx);
  } catch (err) {
    const error = WfctlError.from(err);
    if (error.code !== ErrorCode.LOCK_HELD) throw error;
    return error.lock ?? unreadableLock(STACK_LOCK, `the state backend's LOCK_HELD error does not say which lock is held (no details.lock): ${error.message}`);
  }
  await store.unlock(STACK_LOCK, probe.lockId, storeTimeout(PROBE_RELEASE_MS, ctx.metadata));
  return undefined;
}

/** Every lock held in `store`: its own listing, or for a store that cannot list them, the stack lock as a probe finds it. */
export async function heldLocks(store: StateStore, caller: Caller, operation: string, ctx: StoreContext): Promise<LockInfo[]> {
  if (store.listLocks) {
    try {
      return await store.listLocks(ctx);
    } catch (err) {
      if (!hasCode(err, ErrorCode.UNSUPPORTED)) throw err;
    }
  }
  const held = await probeStackLock(store, caller, operation, ctx);
  return held ? [held] : [];
}

/** A held lock as `state locks` shows it: the lock, whether its holder still runs, and the command that releases it. */
export interface HeldLock {
  lock: LockInfo;
  liveness: Liveness;
  /** "" for a lock `state unlock` does not release (not the stack lock). */
  unlockCommand: string;
}

/** `lock` as `state locks` shows it: whether its wfctld still runs (holderLiveness), and the command that releases it. */
export function describeHeld(lock: LockInfo, target: Target): HeldLock {
  const command = lock.resourceId !== STACK_LOCK ? "" : unlockCommand(target, lock.lockId === "" ? "--force" : lock.lockId);
  return { lock, liveness: holderLiveness(holderOf(lock)), unlockCommand: command };
}
