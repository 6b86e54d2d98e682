// A state lock as data: who holds it, for what, since when, from which host
// and processes. Stores record it, LOCK_HELD errors carry it (ErrorDetails.lock),
// ListLocks lists it; nothing ever reads a lock back out of a message. Kept
// apart from state-store.ts so that errors.ts can name it without a cycle.
import type { LockInfo as LockInfoMessage } from "./gen/wfctl/plugin/v1/state_pb.js";

/** Who holds a lock, for what, since when. */
export interface LockInfo {
  /** Empty: the lock exists but its record cannot be read (only a forced unlock releases it). */
  lockId: string;
  resourceId: string;
  /** For people: `user@host (pid N, wfctld pid M)` as wfctl writes it; any text from another tool. */
  holder: string;
  operation: string;
  createdAt: string;
  version: string;
  /** Host and process ids of the wfctl command and the wfctld that took it (absent or 0: unknown). */
  host?: string;
  pid?: number;
  daemonPid?: number;
}

/** What a caller says about itself when it takes a lock: a store records all of it as given. */
export type LockRequest = Pick<LockInfo, "holder" | "operation" | "version" | "host" | "pid" | "daemonPid">;

/** A process id as a LockInfo keeps it: a positive int32, else absent. */
function pidOf(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= 2 ** 31 - 1 ? value : undefined;
}

/** The optional host and pids of `source` (a stored record, a request), only those that are set and well-formed. */
export function lockOrigin(source: { host?: unknown; pid?: unknown; daemonPid?: unknown }): Pick<LockInfo, "host" | "pid" | "daemonPid"> {
  const pid = pidOf(source.pid);
  const daemonPid = pidOf(source.daemonPid);
  return {
    ...(typeof source.host === "string" && source.host !== "" ? { host: source.host } : {}),
    ...(pid !== undefined ? { pid } : {}),
    ...(daemonPid !== undefined ? { daemonPid } : {}),
  };
}

/** The lock a store records for `request`: every field the caller gave, a new id, and the time. */
export function newLock(resourceId: string, request: LockRequest, lockId: string): LockInfo {
  return {
    lockId,
    resourceId,
    holder: request.holder,
    operation: request.operation,
    createdAt: new Date().toISOString(),
    version: request.version,
    ...lockOrigin(request),
  };
}

/**
 * The LockInfo of a lock that exists but whose record cannot be read: no id
 * (only a forced unlock releases it); `why` says so to people, as its holder.
 */
export function unreadableLock(resourceId: string, why: string): LockInfo {
  return { lockId: "", resourceId, holder: `unknown: ${why}`, operation: "", createdAt: "", version: "" };
}

export function lockToProto(lock: LockInfo): Omit<LockInfoMessage, "$typeName"> {
  return {
    lockId: lock.lockId,
    resourceId: lock.resourceId,
    holder: lock.holder,
    operation: lock.operation,
    createdAt: lock.createdAt,
    version: lock.version,
    host: lock.host ?? "",
    pid: lock.pid ?? 0,
    daemonPid: lock.daemonPid ?? 0,
  };
}

export function lockFromProto(message: Omit<LockInfoMessage, "$typeName">): LockInfo {
  return {
    lockId: message.lockId,
    resourceId: message.resourceId,
    holder: message.holder,
    operation: message.operation,
    createdAt: message.createdAt,
    version: message.version,
    ...lockOrigin(message),
  };
}
