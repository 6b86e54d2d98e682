// One error type for every layer of wfctl, with a stable code that survives
// the plugin boundary and the socket API. Adapters (grpc.ts for plugins,
// connect-errors.ts for the socket API) translate it to and from the wire; the
// client maps codes to exit codes in one place (client/exit-codes.ts). The
// table code <-> gRPC status <-> exit code is also in the header of
// proto/wfctl/plugin/v1/errors.proto and in docs/plugin-authoring.md.
import type { LockInfo } from "./lock-info.js";

/** Stable error codes. Never renumber or rename: scripts match on them. */
export const ErrorCode = {
  /** A configuration file or value is wrong; details name file, module, field. */
  CONFIG_INVALID: "CONFIG_INVALID",
  /** A flag or request argument is wrong. */
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  NOT_FOUND: "NOT_FOUND",
  /** The state lock is held by someone else: `lock` is the holder (the message says so to people). */
  LOCK_HELD: "LOCK_HELD",
  /** The plan changed between approval and apply. */
  PLAN_STALE: "PLAN_STALE",
  /** A destructive operation needs explicit approval. */
  APPROVAL_REQUIRED: "APPROVAL_REQUIRED",
  /** Client and daemon versions differ. */
  VERSION_MISMATCH: "VERSION_MISMATCH",
  /** A protected resource would be destroyed or pruned. */
  PROTECTED_RESOURCE: "PROTECTED_RESOURCE",
  FAILED_PRECONDITION: "FAILED_PRECONDITION",
  /** No plugin of that name is known. */
  PLUGIN_NOT_FOUND: "PLUGIN_NOT_FOUND",
  /** A plugin did not start: exited early, bad handshake, handshake timeout. */
  PLUGIN_HANDSHAKE_FAILED: "PLUGIN_HANDSHAKE_FAILED",
  /** A plugin speaks a protocol version the host does not. */
  PLUGIN_INCOMPATIBLE: "PLUGIN_INCOMPATIBLE",
  /** A plugin executable does not match the sha256 pinned in .wfctl-lock.yaml. */
  PLUGIN_CHECKSUM_MISMATCH: "PLUGIN_CHECKSUM_MISMATCH",
  /** A plugin declared in wfctl.yaml has no (or a stale) entry in .wfctl-lock.yaml. */
  PLUGIN_NOT_LOCKED: "PLUGIN_NOT_LOCKED",
  /** A plugin is not reachable (died, unhealthy, restarting). */
  PLUGIN_UNAVAILABLE: "PLUGIN_UNAVAILABLE",
  /** The provider reported a failure doing the work. */
  PROVIDER_ERROR: "PROVIDER_ERROR",
  /** The state backend cannot be opened or reached. */
  STATE_BACKEND_UNAVAILABLE: "STATE_BACKEND_UNAVAILABLE",
  /** A state record cannot be decoded. */
  STATE_CORRUPT: "STATE_CORRUPT",
  /** Changes were made but state could not record them; the message lists each one (name, provider id). */
  STATE_WRITE_FAILED: "STATE_WRITE_FAILED",
  /** The daemon is not reachable and could not be started. */
  DAEMON_UNAVAILABLE: "DAEMON_UNAVAILABLE",
  /** An output's secret sink could not be written (its API failed or refused the value). */
  SINK_FAILED: "SINK_FAILED",
  UNSUPPORTED: "UNSUPPORTED",
  PERMISSION_DENIED: "PERMISSION_DENIED",
  /**
   * The daemon's socket, its directory, or a file the daemon keeps beside it
   * (pid file, log, audit log) is not safely the current user's: another
   * owner, a symbolic link, the wrong kind of file, or a directory others can
   * enter. The message names the path and its owner. Nothing was sent.
   */
  SOCKET_UNTRUSTED: "SOCKET_UNTRUSTED",
  CANCELLED: "CANCELLED",
  DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
  ALREADY_EXISTS: "ALREADY_EXISTS",
  UNKNOWN: "UNKNOWN",
  INTERNAL: "INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Where a problem is, for errors about configuration. */
export interface ErrorDetail {
  message: string;
  file?: string;
  line?: number;
  column?: number;
  module?: string;
  field?: string;
}

/** What an error carries besides its code and message. */
export interface WfctlErrorOptions {
  cause?: unknown;
  details?: readonly ErrorDetail[];
  omitted?: number;
  lock?: LockInfo;
}

/** The error type every wfctl layer throws and every boundary translates. */
export class WfctlError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly ErrorDetail[];
  /**
   * Problems found but not listed in `details`: errors travel in bounded form
   * (the first problems, and how many more), so 0 means `details` is all of them.
   */
  readonly omitted: number;
  /**
   * For LOCK_HELD: the lock that is held, as its holder took it (lockId ""
   * when its record cannot be read). What the daemon reads, never the message.
   */
  readonly lock: LockInfo | undefined;

  constructor(code: ErrorCode, message: string, options?: WfctlErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "WfctlError";
    this.code = code;
    this.details = options?.details ?? [];
    this.omitted = options?.omitted ?? 0;
    this.lock = options?.lock;
  }

  /** The same error (code, details, lock) told in other words, with this one as its cause. */
  rephrased(message: string, code: ErrorCode = this.code): WfctlError {
    return new WfctlError(code, message, { cause: this, details: this.details, omitted: this.omitted, ...(this.lock ? { lock: this.lock } : {}) });
  }

  /** Wraps any thrown value, keeping a WfctlError as it is. */
  static from(err: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): WfctlError {
    if (err instanceof WfctlError) return err;
    if (err instanceof Error) {
      if (err.name === "AbortError") return new WfctlError(ErrorCode.CANCELLED, err.message || "cancelled", { cause: err });
      if (err.name === "TimeoutError") return new WfctlError(ErrorCode.DEADLINE_EXCEEDED, err.message || "deadline exceeded", { cause: err });
      return new WfctlError(fallback, err.message, { cause: err });
    }
    return new WfctlError(fallback, String(err));
  }
}

/** True when `err` is a WfctlError with one of the given codes. */
export function hasCode(err: unknown, ...codes: ErrorCode[]): err is WfctlError {
  return err instanceof WfctlError && codes.includes(err.code);
}

/** gRPC status codes; Connect's Code enum uses the same numbers. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** The gRPC status of each code: the table of errors.proto's header (test/unit/error-table.test.ts checks both). */
const statusOfCode: Record<ErrorCode, number> = {
  CONFIG_INVALID: GrpcStatus.INVALID_ARGUMENT,
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  LOCK_HELD: GrpcStatus.ABORTED,
  PLAN_STALE: GrpcStatus.FAILED_PRECONDITION,
  APPROVAL_REQUIRED: GrpcStatus.FAILED_PRECONDITION,
  VERSION_MISMATCH: GrpcStatus.FAILED_PRECONDITION,
  PROTECTED_RESOURCE: GrpcStatus.FAILED_PRECONDITION,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  PLUGIN_NOT_FOUND: GrpcStatus.NOT_FOUND,
  PLUGIN_HANDSHAKE_FAILED: GrpcStatus.UNAVAILABLE,
  PLUGIN_INCOMPATIBLE: GrpcStatus.FAILED_PRECONDITION,
  PLUGIN_CHECKSUM_MISMATCH: GrpcStatus.FAILED_PRECONDITION,
  PLUGIN_NOT_LOCKED: GrpcStatus.FAILED_PRECONDITION,
  PLUGIN_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  PROVIDER_ERROR: GrpcStatus.UNKNOWN,
  STATE_BACKEND_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  STATE_CORRUPT: GrpcStatus.DATA_LOSS,
  STATE_WRITE_FAILED: GrpcStatus.DATA_LOSS,
  DAEMON_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  SINK_FAILED: GrpcStatus.UNAVAILABLE,
  UNSUPPORTED: GrpcStatus.UNIMPLEMENTED,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  SOCKET_UNTRUSTED: GrpcStatus.PERMISSION_DENIED,
  CANCELLED: GrpcStatus.CANCELLED,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  ALREADY_EXISTS: GrpcStatus.ALREADY_EXISTS,
  UNKNOWN: GrpcStatus.UNKNOWN,
  INTERNAL: GrpcStatus.INTERNAL,
};

/** The gRPC (and Connect) status code a wfctl error travels as. */
export function grpcStatusOf(code: ErrorCode): number {
  return statusOfCode[code];
}

const codeOfStatus: Record<number, ErrorCode> = {
  [GrpcStatus.CANCELLED]: ErrorCode.CANCELLED,
  [GrpcStatus.UNKNOWN]: ErrorCode.UNKNOWN,
  [GrpcStatus.INVALID_ARGUMENT]: ErrorCode.INVALID_ARGUMENT,
  [GrpcStatus.DEADLINE_EXCEEDED]: ErrorCode.DEADLINE_EXCEEDED,
  [GrpcStatus.NOT_FOUND]: ErrorCode.NOT_FOUND,
  [GrpcStatus.ALREADY_EXISTS]: ErrorCode.ALREADY_EXISTS,
  [GrpcStatus.PERMISSION_DENIED]: ErrorCode.PERMISSION_DENIED,
  [GrpcStatus.FAILED_PRECONDITION]: ErrorCode.FAILED_PRECONDITION,
  [GrpcStatus.UNIMPLEMENTED]: ErrorCode.UNSUPPORTED,
  [GrpcStatus.UNAVAILABLE]: ErrorCode.PLUGIN_UNAVAILABLE,
};

/**
 * The wfctl code for an error received from the wire: the code the peer put in
 * the `wfctl-error-code` metadata when it is a known one, else one derived from
 * the gRPC status (a peer written without the SDK).
 */
export function codeFromWire(status: number, metadataCode: string | undefined): ErrorCode {
  if (metadataCode !== undefined && metadataCode in statusOfCode) return metadataCode as ErrorCode;
  return codeOfStatus[status] ?? ErrorCode.UNKNOWN;
}

/** Metadata key of the wfctl code (trailer for gRPC); the details travel beside it (error-details.ts). */
export const ERROR_CODE_KEY = "wfctl-error-code";

/** How close to its deadline a cancelled call counts as having run out of time. */
export const DEADLINE_SLACK_MS = 500;

/** The WfctlError for an aborted signal: a deadline or a cancellation. */
export function abortError(signal: AbortSignal): WfctlError {
  const reason: unknown = signal.reason;
  if (reason instanceof WfctlError) return reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new WfctlError(ErrorCode.DEADLINE_EXCEEDED, "deadline exceeded", { cause: reason });
  }
  return new WfctlError(ErrorCode.CANCELLED, "cancelled", { cause: reason });
}
