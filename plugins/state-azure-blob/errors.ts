// The azure_blob store's errors: what the storage service (or the SDK) said,
// as a WfctlError the host can act on, never quoting a credential.
import { RestError } from "@azure/storage-blob";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type StoreContext, throwIfAborted } from "../../proto/state-store.js";
import { redact } from "./settings.js";

/** What an error names: the account URL and container (never a credential). */
export interface Target {
  describe: string;
  secrets: readonly string[];
}

export function restError(err: unknown): RestError | undefined {
  return err instanceof RestError || (err instanceof Error && err.name === "RestError") ? (err as RestError) : undefined;
}

/** True when `err` is the storage service's answer `status` (and `code`, if given). */
export function isStatus(err: unknown, status: number, code?: string): boolean {
  const rest = restError(err);
  return rest !== undefined && rest.statusCode === status && (code === undefined || rest.code === code);
}

/** A blob (not its container) is missing. */
export function isBlobMissing(err: unknown): boolean {
  return isStatus(err, 404) && restError(err)?.code !== "ContainerNotFound";
}

const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "REQUEST_SEND_ERROR"]);
const CREDENTIAL_ERRORS = new Set(["CredentialUnavailableError", "AuthenticationError", "AggregateAuthenticationError", "AuthenticationRequiredError"]);

/**
 * A storage failure as a WfctlError. The caller's cancellation wins (CANCELLED
 * or DEADLINE_EXCEEDED); an endpoint that cannot be reached or refuses the
 * credential is STATE_BACKEND_UNAVAILABLE; any other answer is INTERNAL.
 */
export function storageError(err: unknown, target: Target, what: string, ctx?: StoreContext): WfctlError {
  if (ctx?.signal.aborted) {
    try {
      throwIfAborted(ctx);
    } catch (aborted) {
      return aborted as WfctlError;
    }
  }
  if (err instanceof WfctlError) return err;
  const message = redact(err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err), target.secrets);
  const text = (reason: string) => `azure_blob (${target.describe}): ${what}: ${reason}`;
  if (err instanceof Error && err.name === "AbortError") return new WfctlError(ErrorCode.CANCELLED, text("cancelled"), { cause: err });
  if (err instanceof Error && CREDENTIAL_ERRORS.has(err.name)) {
    // The first line only says the chain failed; the rest says why, credential by credential.
    const why = redact(err.message.replace(/\s*\n\s*/g, " "), target.secrets).slice(0, 2000);
    return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, text(`no usable Azure credential (DefaultAzureCredential; or declare account_key_env, sas_token_env or connection_string_env): ${why}`), { cause: err });
  }
  const rest = restError(err);
  const status = rest?.statusCode;
  const code = rest?.code ?? (err as { code?: unknown } | undefined)?.code;
  if (status === 401 || status === 403) {
    return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, text(`access denied (${String(code ?? status)}): check the account key, SAS token or identity and its permissions: ${message}`), { cause: err });
  }
  if (status === 404 && code === "ContainerNotFound") {
    return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, text("the container does not exist"), { cause: err });
  }
  if (rest && (status === undefined || status === 0 || (typeof code === "string" && UNREACHABLE.has(code)))) {
    return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, text(`cannot reach the storage account: ${message}`), { cause: err });
  }
  if (status !== undefined && (status === 408 || status === 429 || status >= 500)) {
    return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, text(`storage unavailable (HTTP ${status}): ${message}`), { cause: err });
  }
  if (!rest) {
    // Our own bug, or a client-side refusal of the SDK (e.g. a bearer token over plain http).
    const bug = err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError;
    return new WfctlError(bug ? ErrorCode.INTERNAL : ErrorCode.STATE_BACKEND_UNAVAILABLE, text(message), { cause: err });
  }
  return new WfctlError(ErrorCode.INTERNAL, text(`${message} (HTTP ${status}${code ? ` ${String(code)}` : ""})`), { cause: err });
}
