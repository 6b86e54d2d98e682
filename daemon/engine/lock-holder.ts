// Who holds a state lock, and whether that holder can still be running. A
// stack lock records its holder as data (host, client pid, wfctld pid in the
// LockInfo) and, for people, as text: `user@host (pid N, wfctld pid M)`.
// Liveness is read from the data; the text is read back only for a record
// written before the data was (no host, no pids), and never out of an error
// message. And the exact `state unlock` command an operator runs to release
// a lock, for the caller's config and environment.
import { hostname } from "node:os";
import type { LockInfo, LockRequest } from "../../proto/state-store.js";
import { processRunning } from "../../proto/socket.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import type { Caller, Target } from "./request.js";

/** A stack-lock holder: the host, the client's pid, and the pid of the wfctld that ran the operation (0: unknown). */
export interface LockHolder {
  host: string;
  clientPid: number;
  daemonPid: number;
}

/** The holder text a lock records for `caller`, run by this process: for people. */
export function holderText(caller: Pick<Caller, "user" | "pid">): string {
  return `${caller.user} (pid ${caller.pid}, wfctld pid ${process.pid})`;
}

/** What this daemon says of itself and of `caller` when it takes a lock for `operation`: the text for people, and the same as data. */
export function lockRequestFor(caller: Pick<Caller, "user" | "pid">, operation: string, holder: string = holderText(caller)): LockRequest {
  return { holder, operation, version: WFCTL_VERSION, host: hostname(), pid: caller.pid, daemonPid: process.pid };
}

/** The holder in a holder text as holderText writes it, for records older than the host and pids; undefined for any other text. */
function holderInText(text: string): LockHolder | undefined {
  const match = /^\S+@(\S+) \(pid (\d+), wfctld pid (\d+)\)$/.exec(text);
  if (!match) return undefined;
  return { host: match[1] as string, clientPid: Number(match[2]), daemonPid: Number(match[3]) };
}

/**
 * Who holds `lock`, from its host and pids; for a record without any of them
 * (taken by an older wfctl), from its holder text. Undefined when neither
 * says (another tool's lock, or a record that cannot be read).
 */
export function holderOf(lock: LockInfo): LockHolder | undefined {
  if (lock.host !== undefined || lock.pid !== undefined || lock.daemonPid !== undefined) {
    return lock.host ? { host: lock.host, clientPid: lock.pid ?? 0, daemonPid: lock.daemonPid ?? 0 } : undefined;
  }
  return holderInText(lock.holder);
}

/** What can be said of a holder from this host: still running, gone, or unknowable (another host, or no holder recorded). */
export type Liveness = "running" | "gone" | "unknown";

/** Whether the wfctld that took a lock is still running, as far as this host can tell. */
export function holderLiveness(holder: LockHolder | undefined): Liveness {
  if (!holder || holder.host !== hostname() || holder.daemonPid <= 0) return "unknown";
  return processRunning(holder.daemonPid) ? "running" : "gone";
}

/** `value` as one shell word. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

/** The command that releases lock `lockId` (or, with "--force", whatever lock is held) of `target`'s state. */
export function unlockCommand(target: Target, lockId: string | "--force"): string {
  return `wfctl infra state unlock ${lockId === "--force" ? "--force" : shellWord(lockId)} -c ${shellWord(target.configPath)}${target.env ? ` --env ${shellWord(target.env)}` : ""}`;
}
