// Who holds a state lock, and whether that holder can still be running. The
// stack lock records its holder as text, `user@host (pid N, wfctld pid M)`;
// this is the one place that writes and reads that text (a later version
// will make the holder structured data). And the exact `state unlock`
// command an operator runs to release a lock, for the caller's config and
// environment.
import { hostname } from "node:os";
import { processRunning } from "../../proto/socket.js";
import type { Caller, Target } from "./request.js";

/** A stack-lock holder as recorded: the client's user and host, its pid, and the pid of the wfctld that ran the operation. */
export interface LockHolder {
  user: string;
  host: string;
  clientPid: number;
  daemonPid: number;
}

/** The holder text a lock records for `caller`, run by this process. */
export function holderText(caller: Caller): string {
  return `${caller.user} (pid ${caller.pid}, wfctld pid ${process.pid})`;
}

/** The holder recorded in `text` (a holder field or a LOCK_HELD message naming one), or undefined when it names none. */
export function parseHolder(text: string): LockHolder | undefined {
  const match = /(\S+)@(\S+) \(pid (\d+), wfctld pid (\d+)\)/.exec(text);
  if (!match) return undefined;
  return { user: match[1] as string, host: match[2] as string, clientPid: Number(match[3]), daemonPid: Number(match[4]) };
}

/** The lock id a LOCK_HELD message names ("" when it names an empty one), or undefined when it names none. */
export function lockIdIn(message: string): string | undefined {
  return /\(lock id ([^,)\s]*)[,)]/.exec(message)?.[1];
}

/** What can be said of a holder from this host: still running, gone, or unknowable (another host, or no holder recorded). */
export type Liveness = "running" | "gone" | "unknown";

/** Whether the wfctld that took a lock is still running, as far as this host can tell. */
export function holderLiveness(holder: LockHolder | undefined): Liveness {
  if (!holder || holder.host !== hostname()) return "unknown";
  return holder.daemonPid > 0 && processRunning(holder.daemonPid) ? "running" : "gone";
}

/** `value` as one shell word. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

/** The command that releases lock `lockId` (or, with "--force", whatever lock is held) of `target`'s state. */
export function unlockCommand(target: Target, lockId: string | "--force"): string {
  return `wfctl infra state unlock ${lockId === "--force" ? "--force" : shellWord(lockId)} -c ${shellWord(target.configPath)}${target.env ? ` --env ${shellWord(target.env)}` : ""}`;
}
