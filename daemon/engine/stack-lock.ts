// The stack lock: every mutating operation holds the lock named "stack" on
// its state namespace while it runs, and releases it however it ends (a
// release that fails is retried, reported to the caller, and kept until it
// succeeds: lock-releases.ts). A lock that is held says who holds it and,
// when that holder looks stale (its wfctld is gone, or it is this daemon with
// no operation holding it) or its lock file cannot be read, the exact command
// that releases it. An operator releases one with `wfctl infra state unlock`.
// Who holds a lock is read from the lock itself (the LOCK_HELD error's
// `lock`, a store's listing), never from a message.
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { canonicalJson } from "../../proto/json.js";
import { type LockInfo, type StateStore, describeLock } from "../../proto/state-store.js";
import type { InfraConfig } from "../config/model.js";
import { describeBackend } from "../state/open.js";
import { type OperationContext, storeContext } from "./context.js";
import { holderLiveness, holderOf, lockRequestFor, unlockCommand } from "./lock-holder.js";
import type { LockReleases } from "./lock-releases.js";
import type { RunningOperation } from "./operations.js";
import type { AuditEntry, AuditSink } from "./refresh.js";
import type { Caller, Target } from "./request.js";
import { STACK_LOCK, heldLocks } from "./state-locks.js";

export { STACK_LOCK };

/** Where a stack lock lives, and for whom: what taking, releasing and explaining it need. */
export interface LockPlace {
  store: StateStore;
  config: InfraConfig;
  /** The caller's configuration path and environment, for the commands messages give. */
  target: Target;
  /** Opens the same store again (a release retried after the operation's store was closed). */
  reopen(signal: AbortSignal): Promise<StateStore>;
}

/** What the engine knows about its own locks. */
export interface LockKeeper {
  releases: LockReleases;
  /** The running operation of this daemon that holds lock `lockId`, if any. */
  holderOf(lockId: string): RunningOperation | undefined;
}

/** Identity of a state store and namespace: the same for every operation that uses the same state. */
export function stateIdentity(config: InfraConfig): string {
  const { backend, config: settings } = config.state;
  // A memory store belongs to its configuration file; the others are found from the file's directory (relative paths).
  const place = backend === "memory" ? config.file : config.dir;
  return createHash("sha256").update(canonicalJson({ backend, settings, place, namespace: config.namespace })).digest("hex");
}

/** Where the stack lock is, for people. */
export function stackLockScope(config: InfraConfig): string {
  return `${describeBackend(config)}, lock "${STACK_LOCK}"`;
}

/**
 * Takes the stack lock for `operation`, or fails at once with LOCK_HELD
 * naming the holder (and what to do when it looks stale). This daemon's own
 * unreleased locks on that state are retried first.
 */
export async function takeStackLock(place: LockPlace, caller: Caller, operation: string, ctx: OperationContext, keeper: LockKeeper): Promise<LockInfo> {
  await keeper.releases.settle(stateIdentity(place.config), place.store);
  try {
    return await place.store.lock(STACK_LOCK, lockRequestFor(caller, operation), storeContext(ctx));
  } catch (err) {
    const error = WfctlError.from(err);
    const advice = error.code === ErrorCode.LOCK_HELD && error.lock ? lockAdvice(error.lock, place.target, keeper) : undefined;
    throw advice ? error.rephrased(`${error.message}; ${advice}`) : error;
  }
}

const IF_IDLE = "If no wfctl command is still running against this state, release it with:";

/** What to do about the held `lock`, when this daemon can tell more than who holds it; undefined when it cannot. */
function lockAdvice(lock: LockInfo, target: Target, keeper: LockKeeper): string | undefined {
  if (lock.lockId === "") return `a lock without an id is released only by force. ${IF_IDLE} ${unlockCommand(target, "--force")}`;
  const { lockId } = lock;
  const pending = keeper.releases.get(lockId);
  if (pending) {
    return (
      `it is this wfctld's (pid ${process.pid}): its ${pending.lock.operation} ended, but releasing the lock failed (${pending.lastError}); ` +
      `wfctld retries until ${pending.givesUpAt.toISOString()} (\`wfctl daemon status\` lists it). Once the state store works again, this releases it: ${pending.lock.unlockCommand}`
    );
  }
  const holder = holderOf(lock);
  if (!holder) return undefined;
  if (holder.host === hostname() && holder.daemonPid === process.pid) {
    if (keeper.holderOf(lockId)) return undefined;
    return `the holder looks stale: it is this wfctld (pid ${process.pid}), which runs no operation holding it. ${IF_IDLE} ${unlockCommand(target, lockId)}`;
  }
  switch (holderLiveness(holder)) {
    case "gone":
      return `the holder looks stale: wfctld pid ${holder.daemonPid} on this host is no longer running. ${IF_IDLE} ${unlockCommand(target, lockId)}`;
    case "unknown":
      return `it was taken on host ${holder.host}: if that command is no longer running there, release it with: ${unlockCommand(target, lockId)}`;
    case "running":
      return undefined;
  }
}

/**
 * Releases a lock this operation took, whatever stopped it. Undefined once
 * released; otherwise the warning for the caller (the release is retried).
 */
export function releaseStackLock(place: LockPlace, lock: LockInfo, ctx: OperationContext, keeper: LockKeeper): Promise<string | undefined> {
  return keeper.releases.release(
    place.store,
    {
      key: stateIdentity(place.config),
      resourceId: STACK_LOCK,
      lockId: lock.lockId,
      scope: stackLockScope(place.config),
      operation: ctx.operation,
      operationId: ctx.operationId,
      target: place.target,
      unlockCommand: unlockCommand(place.target, lock.lockId),
      reopen: place.reopen,
    },
    ctx.log,
  );
}

/** What `wfctl infra state unlock` reports. */
export interface UnlockResult {
  heldBy: string;
  audit: AuditEntry;
  backend: string;
  namespace: string;
}

/** The stack lock held now, from the store's listing or a probe; NOT_FOUND when nobody holds it. */
async function heldStackLock(store: StateStore, config: InfraConfig, caller: Caller, ctx: OperationContext): Promise<LockInfo> {
  const held = (await heldLocks(store, caller, "state unlock", storeContext(ctx))).find((lock) => lock.resourceId === STACK_LOCK);
  if (!held) throw new WfctlError(ErrorCode.NOT_FOUND, `no state lock is held in ${describeBackend(config)}: nothing to unlock`);
  return held;
}

/**
 * Releases the stack lock `lockId` (left by a holder that died), saying who
 * held it; with `force`, whatever lock is held (a lock file that cannot be
 * read has no id). Refuses when no lock is held, when the one held has
 * another id (it never releases a lock someone took since), and when an
 * operation of this daemon holds it now. Audited.
 */
export async function unlockStack(
  place: LockPlace,
  caller: Caller,
  request: { lockId: string; force: boolean },
  ctx: OperationContext,
  audit: AuditSink,
  keeper: LockKeeper,
): Promise<UnlockResult> {
  const { store, config, target } = place;
  const held = await heldStackLock(store, config, caller, ctx);
  const heldBy = describeLock(held);
  const heldId = held.lockId;
  const running = heldId ? keeper.holderOf(heldId) : undefined;
  if (running) {
    throw new WfctlError(
      ErrorCode.FAILED_PRECONDITION,
      `not unlocking: ${heldBy}, and that ${running.operation} (operation ${running.id}) is running in this wfctld now. Wait for it, or stop it (Ctrl-C in its wfctl)`,
    );
  }
  if (!request.force && heldId === "") {
    throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `not unlocking: ${heldBy}. A lock without an id is released with: ${unlockCommand(target, "--force")}`);
  }
  if (!request.force && heldId !== request.lockId) {
    throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `not unlocking: ${heldBy}, not ${request.lockId}. Check the id (it may have been released and taken again)`);
  }
  // Who is asking, as the daemon knows it, for the audit line; another user is refused here, before the release.
  const peer = await caller.peer?.();
  // Forced only when the lock has no id: a lock with one is released by its id, so a lock taken since the look is never released.
  await store.unlock(STACK_LOCK, heldId, storeContext(ctx), heldId === "" ? { force: true } : undefined);
  if (heldId) keeper.releases.forget(heldId);
  const entry: AuditEntry = {
    time: new Date().toISOString(),
    action: "unlock",
    operation: request.force ? "state unlock --force" : "state unlock",
    resource: STACK_LOCK,
    type: "lock",
    environment: config.env,
    caller: caller.user,
    ...(peer ? { peer } : {}),
    operationId: heldId,
  };
  audit(entry);
  ctx.log.warn({ audit: entry, held_by: heldBy }, `state lock ${heldId || "(unreadable, no id)"} released by hand${request.force ? " (forced)" : ""}`);
  return { heldBy, audit: entry, backend: describeBackend(config), namespace: config.namespace };
}
