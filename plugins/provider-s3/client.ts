// The S3 client of a configured provider, and the one place where an S3 answer
// becomes a WfctlError: a code the client can act on, and a message that
// names the resource, the bucket, the call and the server, never a secret.
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { ErrorCode, WfctlError } from "../sdk/index.js";
import type { S3Credentials, S3ProviderSettings } from "./settings.js";

/** How long to wait for a TCP connection (a wrong endpoint must fail, not hang). */
const CONNECT_TIMEOUT_MS = 5_000;

/** A configured provider: the client and how to speak of where it points. */
export interface S3Provider {
  client: S3Client;
  /** The region the client signs for and creates buckets in. */
  region: string;
  endpoint?: URL;
  forcePathStyle: boolean;
  /** "AWS S3 (region x)" or "endpoint URL (region x)", for messages. */
  where: string;
  /** Where the credentials came from, for messages. */
  credentials: string;
}

function describeCredentials(credentials: S3Credentials): string {
  if (credentials.kind === "env") return `the credentials in ${credentials.names.join(", ")}`;
  if (credentials.kind === "profile") return `the credentials of profile "${credentials.profile}"`;
  return "the AWS SDK's default credentials";
}

/** Builds the client; the region is the setting, else the SDK's chain (no network), else us-east-1. */
export async function connectS3(settings: S3ProviderSettings): Promise<S3Provider> {
  const { credentials, endpoint } = settings;
  const base: S3ClientConfig = {
    forcePathStyle: settings.forcePathStyle,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS },
    // S3-compatible stores vary in support for the SDK's default CRC32
    // checksums: send them only where the API requires one.
    ...(endpoint !== undefined ? { endpoint: endpoint.toString(), requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" } : {}),
  };
  if (credentials.kind === "env") {
    const { accessKeyId, secretAccessKey, sessionToken } = credentials;
    base.credentials = { accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) };
  } else if (credentials.kind === "profile") {
    base.profile = credentials.profile;
  }
  let region = settings.region;
  if (region === undefined) {
    const probe = new S3Client(base);
    region = await probe.config.region().catch(() => "us-east-1");
    probe.destroy();
  }
  return {
    client: new S3Client({ ...base, region }),
    region,
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    where: `${endpoint !== undefined ? `endpoint ${endpoint.origin}${endpoint.pathname.replace(/\/$/, "")}` : "AWS S3"} (region ${region})`,
    credentials: describeCredentials(credentials),
  };
}

/** The parts of an AWS SDK error we read. */
interface SdkError {
  name: string;
  message: string;
  status: number | undefined;
  /** A Node.js system error code (ECONNREFUSED, ...): the request never got an answer. */
  code: string | undefined;
}

export function sdkError(err: unknown): SdkError {
  const e = (typeof err === "object" && err !== null ? err : {}) as { name?: unknown; message?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } };
  return {
    name: typeof e.name === "string" ? e.name : "Error",
    message: typeof e.message === "string" ? e.message : String(err),
    status: e.$metadata?.httpStatusCode,
    code: typeof e.code === "string" ? e.code : undefined,
  };
}

/** The bucket is not there: NoSuchBucket, or a bare 404 (a HEAD answer has no body to name it). */
export function isMissingBucket(err: unknown): boolean {
  const { name, status } = sdkError(err);
  return name === "NoSuchBucket" || (status === 404 && (name === "NotFound" || name === "Unknown"));
}

/**
 * The server does not implement the call: NotImplemented (501), or
 * MethodNotAllowed (405) for a sub-resource it does not route. A server that
 * ignores a bucket's sub-resource takes a PUT for CreateBucket: an answer of
 * BucketAlreadyExists to anything but CreateBucket means the same.
 */
export function isUnimplemented(err: unknown, api: string): boolean {
  const { name, status } = sdkError(err);
  if (status === 501 || name === "NotImplemented" || status === 405 || name === "MethodNotAllowed") return true;
  return api !== "CreateBucket" && (name === "BucketAlreadyExists" || name === "BucketAlreadyOwnedByYou");
}

const DENIED = ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "Forbidden"];

/** What one failed call was: for the message and the error's field. */
export interface CallSite {
  /** `name (s3.bucket)`. */
  resource: string;
  bucket: string;
  /** What it was doing, e.g. "enabling versioning". */
  doing: string;
  /** The S3 API called, e.g. "PutBucketVersioning". */
  api: string;
  /** The resource field the call serves, named in the error's details. */
  field?: string;
}

/** The WfctlError for a failed S3 call (an aborted call is rethrown by the caller before this). */
export function s3Failure(err: unknown, site: CallSite, provider: S3Provider): WfctlError {
  if (err instanceof WfctlError) return err;
  const e = sdkError(err);
  const http = e.status !== undefined ? `, HTTP ${e.status}` : "";
  // HEAD answers have no body: the SDK's message is then just "UnknownError".
  const said = e.message !== "" && e.message !== "UnknownError" ? `: ${e.message}` : "";
  const field = site.field !== undefined ? ` (field "${site.field}")` : "";
  const at = `${site.resource}: bucket "${site.bucket}" at ${provider.where}: ${site.doing}${field}`;
  const fail = (code: ErrorCode, why: string, detailField = site.field) =>
    new WfctlError(code, `${at}: ${why}`, { cause: err, ...(detailField !== undefined ? { details: [{ field: detailField, message: why }] } : {}) });

  if (e.name === "CredentialsProviderError") return fail(ErrorCode.PERMISSION_DENIED, `no credentials found${said}; set access_key_id_env / secret_access_key_env or profile`);
  if (e.status === undefined && (e.code !== undefined || e.name === "TimeoutError")) {
    const check = provider.endpoint !== undefined ? "check config.endpoint and that the server is up" : "check the network";
    return fail(ErrorCode.PROVIDER_ERROR, `cannot connect${said || ` (${e.code ?? e.name})`}: ${check}`, provider.endpoint !== undefined ? "config.endpoint" : site.field);
  }
  if (e.status === 301 || e.name === "PermanentRedirect" || e.name === "AuthorizationHeaderMalformed") {
    return fail(ErrorCode.CONFIG_INVALID, `the bucket is in another region than ${provider.region} (${e.name}${http}): set config.region to the bucket's region`, "config.region");
  }
  if (e.status === 401 || e.status === 403 || DENIED.includes(e.name)) {
    return fail(ErrorCode.PERMISSION_DENIED, `access denied (${e.name}${http}): check ${provider.credentials} and their permission for ${site.api}`);
  }
  if (isUnimplemented(err, site.api)) {
    return fail(ErrorCode.UNSUPPORTED, `the server does not implement ${site.api} (it answered ${e.name}${http}); this setting cannot be managed there`);
  }
  if (isMissingBucket(err)) {
    return fail(ErrorCode.NOT_FOUND, `the bucket does not exist (${e.name}${http}): it was deleted outside wfctl? \`wfctl infra refresh\` records that`);
  }
  return fail(ErrorCode.PROVIDER_ERROR, `${site.api} failed (${e.name}${http})${said}`);
}

/** The options of one call: its field, and answers that are not failures. */
export interface CallOptions<T> {
  field?: string;
  /** A value for an expected error (a missing bucket, a missing tag set); undefined: a failure. May throw a better error. */
  expected?: (err: unknown) => T | undefined;
}

/** The calls of one handler on one bucket: every call takes the handler's signal, and fails naming the resource and bucket. */
export class BucketCalls {
  constructor(
    readonly provider: S3Provider,
    /** `name (s3.bucket)`. */
    readonly resource: string,
    readonly bucket: string,
    readonly signal: AbortSignal,
  ) {}

  get client(): S3Client {
    return this.provider.client;
  }

  /**
   * Runs one S3 call as `api`. A cancelled or late call ends with the
   * signal's reason (which the plugin SDK answers as CANCELLED or
   * DEADLINE_EXCEEDED); anything else not `expected` becomes s3Failure.
   */
  async send<T>(doing: string, api: string, run: (options: { abortSignal: AbortSignal }) => Promise<T>, options: CallOptions<T> = {}): Promise<T> {
    this.signal.throwIfAborted();
    try {
      return await run({ abortSignal: this.signal });
    } catch (err) {
      this.signal.throwIfAborted();
      const value = options.expected?.(err);
      if (value !== undefined) return value;
      throw s3Failure(err, { resource: this.resource, bucket: this.bucket, doing, api, ...(options.field !== undefined ? { field: options.field } : {}) }, this.provider);
    }
  }
}
