// Exit codes, Terraform-compatible where Terraform defines them (0, 1, and 2
// for "changes present" with --detailed-exitcode), and distinct for the
// failures a CI runner handles differently (retry, wait for a lock, stop).
import { ErrorCode } from "../proto/errors.js";

export const EXIT = {
  OK: 0,
  ERROR: 1,
  /** With --detailed-exitcode: the plan has changes (or drift was found). */
  CHANGES: 2,
  /** The state lock is held by someone else: wait and retry. */
  LOCK_HELD: 3,
  /** A plugin, the state backend or the daemon is unreachable: retrying may help. */
  UNAVAILABLE: 4,
  /** Bad flags or arguments. */
  USAGE: 64,
  /** --timeout passed. */
  DEADLINE_EXCEEDED: 124,
  /** Interrupted (Ctrl-C). */
  CANCELLED: 130,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.LOCK_HELD:
      return EXIT.LOCK_HELD;
    case ErrorCode.PLUGIN_UNAVAILABLE:
    case ErrorCode.PLUGIN_HANDSHAKE_FAILED:
    case ErrorCode.STATE_BACKEND_UNAVAILABLE:
    case ErrorCode.DAEMON_UNAVAILABLE:
      return EXIT.UNAVAILABLE;
    case ErrorCode.INVALID_ARGUMENT:
      return EXIT.USAGE;
    case ErrorCode.DEADLINE_EXCEEDED:
      return EXIT.DEADLINE_EXCEEDED;
    case ErrorCode.CANCELLED:
      return EXIT.CANCELLED;
    default:
      return EXIT.ERROR;
  }
}
