// Talking to Cloud Storage: one SDK client per configured provider, and calls
// that end as soon as the caller gives up (the SDK takes no AbortSignal: the
// request in flight finishes unseen) and whose failures become WfctlErrors
// naming the resource, the server and where the credentials came from, never
// a key.
import { Storage } from "@google-cloud/storage";
import { throwIfAborted } from "../../proto/state-store.js";
import { abortable } from "../sdk/store-kit.js";
import { storageOptions } from "../state-gcs/store.js";
import { type CallContext, ErrorCode, WfctlError } from "../sdk/index.js";
import { type GcsProviderSettings, describeTarget } from "./settings.js";


/** What a failed SDK call carries: ApiError has the HTTP status as a number, a network error a string code. */
interface SdkFailure {
  code?: number | string;
  message?: string;
}

function sdkFailure(err: unknown): SdkFailure {
  const failure = err instanceof WfctlError ? err.cause : err;
  return typeof failure === "object" && failure !== null ? (failure as SdkFailure) : { message: String(failure) };
}

/** The HTTP status behind a failure of `GcsClient.call` (or of the SDK), if the server answered. */
export function httpStatus(err: unknown): number | undefined {
  const { code } = sdkFailure(err);
  return typeof code === "number" ? code : undefined;
}

/** The first line of the server's (or the SDK's) message. */
export function serverMessage(err: unknown): string {
  return (sdkFailure(err).message ?? "unknown error").split("\n")[0] ?? "";
}

/** One API call of a resource handler, for messages. */
export interface Step {
  /** `photos (gcs.bucket)`. */
  what: string;
  /** `creating bucket "acme-photos"`. */
  doing: string;
  /** The API operation, for a server that lacks it: "bucket creation". */
  operation: string;
  /** The JSON API request it is: `POST /storage/v1/b`. */
  request: string;
}

/** The wfctl code and the words for a failure the SDK reported. */
function classify(err: unknown, step: Step): { code: ErrorCode; why: string } {
  const status = httpStatus(err);
  const message = serverMessage(err);
  if (status === 501) return { code: ErrorCode.UNSUPPORTED, why: `the server does not implement ${step.operation}: ${step.request} answered HTTP 501 ${message}` };
  if (status === 401 || status === 403) {
    return { code: ErrorCode.PERMISSION_DENIED, why: `access denied (HTTP ${status}): ${message}: check the credentials and their roles in the project` };
  }
  if (status === 400) return { code: ErrorCode.CONFIG_INVALID, why: `the server refused the request (HTTP 400): ${message}` };
  if (status === 404) return { code: ErrorCode.NOT_FOUND, why: `not found (HTTP 404): ${message}` };
  if (status === 409) return { code: ErrorCode.ALREADY_EXISTS, why: `conflict (HTTP 409): ${message}` };
  if (status === 412) return { code: ErrorCode.FAILED_PRECONDITION, why: `precondition failed (HTTP 412): ${message}` };
  if (status !== undefined) return { code: ErrorCode.PROVIDER_ERROR, why: `HTTP ${status}: ${message}` };
  if (/default credentials|could not load|invalid_grant|private key|DECODER|PEM/i.test(message)) {
    return { code: ErrorCode.PERMISSION_DENIED, why: `no usable credentials: ${message}` };
  }
  if (typeof sdkFailure(err).code === "string") return { code: ErrorCode.PROVIDER_ERROR, why: `cannot connect: ${message}` };
  return { code: ErrorCode.PROVIDER_ERROR, why: message };
}

/** The SDK client of one configured provider, and the one way its handlers call it. */
export class GcsClient {
  readonly storage: Storage;
  /** `http://127.0.0.1:9199 without credentials`, for messages. */
  readonly target: string;

  constructor(readonly settings: GcsProviderSettings) {
    this.storage = new Storage(storageOptions(settings));
    this.target = describeTarget(settings);
  }

  /**
   * Runs one SDK call for a handler: never starts once the caller has given
   * up, ends with CANCELLED / DEADLINE_EXCEEDED as soon as it does, and turns
   * any other failure into a WfctlError `<what>: <doing> at <target>: <why>`
   * whose cause is the SDK's error (read it with httpStatus).
   */
  async call<T>(ctx: CallContext, step: Step, run: () => Promise<T>): Promise<T> {
    throwIfAborted(ctx);
    try {
      return await abortable(ctx, run());
    } catch (err) {
      throwIfAborted(ctx);
      if (err instanceof WfctlError) throw err;
      const { code, why } = classify(err, step);
      throw new WfctlError(code, `${step.what}: ${step.doing} at ${this.target}: ${why}`, { cause: err });
    }
  }
}
