// Azure Storage failures as WfctlErrors, mapped in one place: the call's own
// cancellation or deadline wins; otherwise the service's error code (or HTTP
// status) picks the wfctl code. Every message names the resource, the
// container and the account, and passes through redact(), so no key, token
// or SAS signature reaches it.
import { RestError } from "@azure/storage-blob";
import { abortError } from "../../proto/errors.js";
import { ErrorCode, WfctlError } from "../sdk/index.js";
import { redact } from "../state-azure-blob/settings.js";

/** What a failure is about. */
export interface ContainerTarget {
  /** The resource, as messages name it: `assets (azure.container)`. */
  what: string;
  container: string;
  accountUrl: string;
  secrets: readonly string[];
}

/** The storage service's answer behind `err`, if it is one. */
function serviceAnswer(err: unknown): { status: number | undefined; code: string | undefined } | undefined {
  if (!(err instanceof RestError) && !(err instanceof Error && err.name === "RestError")) return undefined;
  const rest = err as RestError;
  return { status: rest.statusCode, code: typeof rest.code === "string" ? rest.code : undefined };
}

/** True when `err` is the service's answer `status` (and `code`, when given). */
export function isServiceError(err: unknown, status: number, code?: string): boolean {
  const answer = serviceAnswer(err);
  return answer?.status === status && (code === undefined || answer.code === code);
}

/** Service error codes with a code of their own, and what the user can do about them. */
const KNOWN_ANSWERS: Readonly<Record<string, { code: ErrorCode; hint: string }>> = {
  ContainerNotFound: { code: ErrorCode.NOT_FOUND, hint: "the container does not exist (deleted outside wfctl? `wfctl infra refresh` records that)" },
  ContainerAlreadyExists: { code: ErrorCode.ALREADY_EXISTS, hint: "a container of that name already exists in the account: choose another name, or delete that one first" },
  ContainerBeingDeleted: { code: ErrorCode.FAILED_PRECONDITION, hint: "Azure is still deleting a container of that name; apply again in a minute" },
  PublicAccessNotPermitted: {
    code: ErrorCode.FAILED_PRECONDITION,
    hint: "the storage account does not allow public access (allowBlobPublicAccess is off): set public_access: none, or allow it on the account",
  },
  LeaseIdMissing: { code: ErrorCode.FAILED_PRECONDITION, hint: "the container has an active lease: release or break it first" },
  ConditionNotMet: { code: ErrorCode.FAILED_PRECONDITION, hint: "the container changed while this call was updating it; apply again" },
  InvalidMetadata: { code: ErrorCode.CONFIG_INVALID, hint: "the service refused the metadata (names must be C# identifiers)" },
  MetadataTooLarge: { code: ErrorCode.CONFIG_INVALID, hint: "the metadata is larger than the 8 KiB Azure allows" },
  InvalidResourceName: { code: ErrorCode.CONFIG_INVALID, hint: "the service refused the container name" },
};

/** Network failures: the account's endpoint was not reached. */
const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "REQUEST_SEND_ERROR"]);
/** @azure/identity's failures: no credential of DefaultAzureCredential's chain worked. */
const NO_CREDENTIAL = new Set(["CredentialUnavailableError", "AuthenticationError", "AggregateAuthenticationError", "AuthenticationRequiredError"]);

/** The reason a failure gives, on one line, without secrets. */
function reasonOf(err: unknown, secrets: readonly string[], allLines = false): string {
  const text = err instanceof Error ? err.message : String(err);
  return redact(allLines ? text.replace(/\s*\n\s*/g, " ").slice(0, 2000) : (text.split("\n")[0] ?? text), secrets);
}

/** The wfctl code and the words for a failure that is not the caller's cancellation. */
function classify(err: unknown, secrets: readonly string[]): { code: ErrorCode; reason: string } {
  const reason = reasonOf(err, secrets);
  if (err instanceof Error && err.name === "AbortError") return { code: ErrorCode.CANCELLED, reason: "cancelled" };
  if (err instanceof Error && NO_CREDENTIAL.has(err.name)) {
    return {
      code: ErrorCode.PERMISSION_DENIED,
      reason: `no usable Azure credential (DefaultAzureCredential; or declare account_key_env, sas_token_env or connection_string_env): ${reasonOf(err, secrets, true)}`,
    };
  }
  const answer = serviceAnswer(err);
  if (!answer) {
    // Our own bug, or a client-side refusal of the SDK (such as a bearer token over plain http).
    const bug = err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError;
    return { code: bug ? ErrorCode.INTERNAL : ErrorCode.PROVIDER_ERROR, reason };
  }
  const { status, code } = answer;
  const known = code === undefined ? undefined : KNOWN_ANSWERS[code];
  if (known) return { code: known.code, reason: `${known.hint} (${code}): ${reason}` };
  if (status === 401 || status === 403) {
    return { code: ErrorCode.PERMISSION_DENIED, reason: `access denied (${code ?? status}): check the account key, SAS token or identity and its permissions: ${reason}` };
  }
  if (status === undefined || status === 0 || (code !== undefined && UNREACHABLE.has(code))) {
    return { code: ErrorCode.PROVIDER_ERROR, reason: `cannot reach the storage account: ${reason}` };
  }
  if (status === 408 || status === 429 || status >= 500) return { code: ErrorCode.PROVIDER_ERROR, reason: `storage unavailable (HTTP ${status}): ${reason}` };
  return { code: ErrorCode.PROVIDER_ERROR, reason: `HTTP ${status}${code ? ` ${code}` : ""}: ${reason}` };
}

/** `err` as a WfctlError whose message starts with `where` (what was being done, to what). */
export function azureError(err: unknown, where: string, secrets: readonly string[], signal: AbortSignal): WfctlError {
  if (signal.aborted) {
    const aborted = abortError(signal);
    return new WfctlError(aborted.code, `${where}: ${aborted.message}`, { cause: aborted.cause });
  }
  if (err instanceof WfctlError) return err;
  const { code, reason } = classify(err, secrets);
  return new WfctlError(code, `${where}: ${reason}`, { cause: err });
}

/** `err`, from `doing` something to the container of `target`: `<resource>: <doing> container "<name>" in <account>: <reason>`. */
export function containerError(err: unknown, target: ContainerTarget, doing: string, signal: AbortSignal): WfctlError {
  return azureError(err, `${target.what}: ${doing} container "${target.container}" in ${target.accountUrl}`, target.secrets, signal);
}

/** Runs `call`, turning its failure into containerError's. */
export async function onContainer<T>(target: ContainerTarget, doing: string, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw containerError(err, target, doing, signal);
  }
}
