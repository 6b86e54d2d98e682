// WfctlError across the daemon's socket API (Connect / gRPC): the stable code
// and the details travel as metadata beside the standard status code.
import { Code, ConnectError } from "@connectrpc/connect";
import { ERROR_CODE_KEY, ErrorCode, WfctlError, codeFromWire, grpcStatusOf } from "./errors.js";
import { ERROR_DETAILS_KEY, LEGACY_OMITTED_KEY, decodeErrorDetails, detailsMetadata } from "./error-details.js";

/**
 * A WfctlError as a ConnectError: its code and (bounded) details, the lock
 * held included, travel as metadata. A ConnectError is kept as it is: one
 * converted already, or one of Connect's own (a protocol error keeps its
 * status, never INTERNAL).
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const error = WfctlError.from(err);
  const metadata = new Headers({ [ERROR_CODE_KEY]: error.code });
  for (const [key, value] of detailsMetadata(error)) metadata.set(key, value);
  // A message quoting a caller's string may hold an unpaired surrogate, which no header can carry (gRPC's
  // grpc-message is percent-encoded UTF-8): Connect then wrote no answer at all.
  return new ConnectError(error.message.replace(LONE_SURROGATES, "\ufffd"), grpcStatusOf(error.code) as Code, metadata, undefined, err);
}

/** UTF-16 surrogates without their pair. */
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function fromConnectError(err: unknown): WfctlError {
  if (err instanceof WfctlError) return err;
  const error = ConnectError.from(err);
  const code = codeFromWire(error.code, error.metadata.get(ERROR_CODE_KEY) ?? undefined);
  return new WfctlError(code, error.rawMessage, {
    cause: err,
    ...decodeErrorDetails(error.metadata.get(ERROR_DETAILS_KEY) ?? undefined, error.metadata.get(LEGACY_OMITTED_KEY) ?? undefined),
  });
}

export { Code };

/** Node error codes of a connection that broke: the peer's process died, closed or was never there. */
const LOST_CONNECTION_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ECONNABORTED", "ENOENT", "ERR_STREAM_PREMATURE_CLOSE"]);

/**
 * How the connection broke ("socket hang up (ECONNRESET)"), when `err` is the
 * failure of the connection itself rather than an answer from the peer: no
 * wfctl code from the other side, and a Node connection error in its causes.
 */
export function connectionLost(err: unknown): string | undefined {
  if (err instanceof WfctlError) return undefined;
  if (err instanceof ConnectError && err.metadata.has(ERROR_CODE_KEY)) return undefined;
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && LOST_CONNECTION_CODES.has(code)) return `${e.message} (${code})`;
  }
  return undefined;
}

/**
 * The error a client reports when the daemon it was talking to went away in
 * the middle of a command (killed, crashed, stopped): DAEMON_UNAVAILABLE, with
 * where its log is and what it may have left behind.
 */
export function daemonWentAway(cause: string, socket: string, log: string): WfctlError {
  return new WfctlError(
    ErrorCode.DAEMON_UNAVAILABLE,
    `wfctld went away in the middle of this command: the connection to ${socket} was lost (${cause}). ` +
      `What it was doing may be unfinished; its log says why it stopped: ${log}. ` +
      "A state lock it held may still be held: the next command that needs the lock says so, and `wfctl infra state unlock <lock id>` releases it.",
  );
}
