// The s3 state store: one object per record, one object per held lock, in a
// bucket of AWS S3 or an S3-compatible store. Locks are taken with a
// conditional write (If-None-Match: *), which fails at once when the lock
// object exists; a server that ignores that header is refused unless the
// module accepts check-then-write locking (conditional_writes: false).
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  recordJson,
  throwIfAborted,
} from "../../proto/state-store.js";
import {
  type ConditionalCreateSupport,
  checkRelease,
  conditionalWritesRequired,
  parseLock,
  parseRecord,
  probeConditionalCreate,
  readListedLocks,
  readListedRecords,
  storeCall,
  takeLockObject,
} from "../sdk/store-kit.js";
import { type S3Settings, describeCredentials, describeSettings } from "./settings.js";

/** Records read at once while listing. */
export const LIST_CONCURRENCY = 16;
/** How long to wait for a TCP connection before trying again (a wrong endpoint must not hang Configure). */
const CONNECT_TIMEOUT_MS = 5_000;

type SendOptions = { abortSignal: AbortSignal };

/** The parts of an SDK error we read. */
interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function sdkError(err: unknown): SdkError {
  return typeof err === "object" && err !== null ? (err as SdkError) : { message: String(err) };
}

function statusOf(err: unknown): number | undefined {
  return sdkError(err).$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const { name } = sdkError(err);
  return name === "NoSuchKey" || name === "NotFound" || (statusOf(err) === 404 && name !== "NoSuchBucket");
}

/** The conditional write lost: the object exists (412), or another conditional write to it is in flight (409). */
function isConditionFailed(err: unknown): boolean {
  const { name } = sdkError(err);
  const status = statusOf(err);
  return status === 412 || name === "PreconditionFailed" || (status === 409 && name === "ConditionalRequestConflict");
}

/** Why a store call failed, in words (SDK messages of HEAD requests are just "UnknownError"). */
function reason(err: unknown): string {
  const e = sdkError(err);
  const name = e.name ?? "Error";
  const status = statusOf(err);
  const message = e.message && e.message !== "UnknownError" ? e.message : `HTTP status ${status ?? "unknown"}`;
  if (name === "CredentialsProviderError") return `no credentials found: ${message}`;
  if (name === "NoSuchBucket" || (status === 404 && name === "NotFound")) return "the bucket does not exist (HTTP 404): check config.bucket and config.endpoint";
  if (status === 301 || name === "PermanentRedirect") return "the bucket is in another region: set config.region to the bucket's region";
  if (status === 401 || status === 403 || ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken"].includes(name)) {
    return `access denied (${name === "Unknown" || name === "Forbidden" ? `HTTP ${status}` : name}): check the credentials and the bucket's permissions`;
  }
  if (e.code !== undefined && status === undefined) return `cannot connect: ${message}`;
  return `${name}${status !== undefined ? ` (HTTP ${status})` : ""}: ${message}`;
}

/** Builds the client, settling the region: the setting, else the SDK's chain, else us-east-1. */
async function createClient(settings: S3Settings): Promise<{ client: S3Client; region: string }> {
  const { credentials } = settings;
  const config: S3ClientConfig = {
    forcePathStyle: settings.forcePathStyle,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS },
    ...(settings.endpoint !== undefined
      ? {
          endpoint: settings.endpoint,
          // Checksums only where S3 requires them: S3-compatible servers vary in
          // support for the SDK's default CRC32 headers; TLS guards the bytes.
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
        }
      : {}),
    ...(credentials.kind === "env"
      ? {
          credentials: {
            accessKeyId: credentials.accessKeyId,
            secretAccessKey: credentials.secretAccessKey,
            ...(credentials.sessionToken !== undefined ? { sessionToken: credentials.sessionToken } : {}),
          },
        }
      : credentials.kind === "profile"
        ? { profile: credentials.profile }
        : {}),
  };
  if (settings.region !== undefined) return { client: new S3Client({ ...config, region: settings.region }), region: settings.region };
  const probe = new S3Client(config);
  try {
    return { client: probe, region: await probe.config.region() };
  } catch {
    probe.destroy();
    return { client: new S3Client({ ...config, region: "us-east-1" }), region: "us-east-1" };
  }
}

export class S3StateStore implements StateStore {
  private constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    /** `<prefix><namespace>/`: every key of this store starts with it. */
    private readonly base: string,
    /** True: the server honours If-None-Match, a lock is one conditional write. */
    private readonly atomicLocks: boolean,
    private readonly describe: string,
  ) {}

  /**
   * Connects and checks, before any state is touched, that the bucket is
   * reachable with these credentials and that the server honours conditional
   * writes (or that the module accepts locking without them).
   */
  static async open(settings: S3Settings, namespace: string, ctx: StoreContext): Promise<S3StateStore> {
    throwIfAborted(ctx);
    if (namespace === "") throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "s3 state backend: the namespace is empty");
    const { client, region } = await createClient(settings);
    const describe = describeSettings(settings, region);
    const unavailable = (err: unknown, what: string) =>
      new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `cannot use ${describe} with ${describeCredentials(settings.credentials)}: ${what}: ${reason(err)}`, {
        cause: err,
      });
    try {
      try {
        await client.send(new HeadBucketCommand({ Bucket: settings.bucket }), { abortSignal: ctx.signal });
      } catch (err) {
        throwIfAborted(ctx);
        throw unavailable(err, "checking the bucket");
      }
      const support = await probeConditionalWrites(client, settings, ctx, unavailable);
      if (!support.supported && settings.conditionalWrites) throw conditionalWritesRequired("s3 state backend", describe, support.why, "support conditional writes");
      return new S3StateStore(client, settings.bucket, `${settings.prefix}${encodeURIComponent(namespace)}/`, support.supported, describe);
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  private recordKey(resourceId: string): string {
    return `${this.base}resources/${encodeURIComponent(resourceId)}.json`;
  }

  private lockKey(resourceId: string): string {
    return `${this.base}locks/${encodeURIComponent(resourceId)}.lock`;
  }

  /** A store call: the caller's cancellation goes to the SDK; `expected` turns a known outcome (not found, a lost condition) into a value. */
  private call<T>(ctx: StoreContext, what: string, fn: (options: SendOptions) => Promise<T>, expected?: (err: unknown) => T | undefined): Promise<T> {
    return storeCall(ctx, { describe: this.describe, reason }, what, () => fn({ abortSignal: ctx.signal }), expected);
  }

  /** An object's text, or undefined when there is none. */
  private async read(key: string, ctx: StoreContext): Promise<string | undefined> {
    const text = await this.call<string | null>(
      ctx,
      `reading ${key}`,
      async (options) => {
        const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }), options);
        if (response.Body === undefined) throw new WfctlError(ErrorCode.STATE_CORRUPT, `${this.describe}: object ${key} has no body`);
        return response.Body.transformToString("utf-8");
      },
      (err) => (isNotFound(err) ? null : undefined),
    );
    throwIfAborted(ctx);
    return text ?? undefined;
  }

  /** Writes an object whole; with `ifAbsent`, returns false instead when it already exists. */
  private async write(key: string, body: string, ctx: StoreContext, ifAbsent = false): Promise<boolean> {
    return this.call(
      ctx,
      `writing ${key}`,
      async (options) => {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: "application/json", ...(ifAbsent ? { IfNoneMatch: "*" } : {}) }),
          options,
        );
        return true;
      },
      (err) => (ifAbsent && isConditionFailed(err) ? false : undefined),
    );
  }

  private async remove(key: string, ctx: StoreContext): Promise<void> {
    await this.call(ctx, `deleting ${key}`, (options) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), options));
  }

  /** The record in the object `key`; with `resourceId`, it must be that resource's. */
  private recordIn(text: string, key: string, resourceId?: string): ResourceState {
    return parseRecord(text, `${this.describe}: object ${key}`, resourceId);
  }

  private async readLock(resourceId: string, ctx: StoreContext): Promise<LockInfo | undefined> {
    const key = this.lockKey(resourceId);
    const text = await this.read(key, ctx);
    return text === undefined ? undefined : parseLock(text, `${this.describe}: lock object ${key}`);
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    const key = this.recordKey(resourceId);
    const text = await this.read(key, ctx);
    return text === undefined ? undefined : this.recordIn(text, key, resourceId);
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    // One PUT replaces the object whole: a retry writes the same bytes again.
    await this.write(this.recordKey(state.resourceId), recordJson(state), ctx);
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    const prefix = `${this.base}resources/`;
    return this.eachPage(prefix, ctx, (names) =>
      readListedRecords({ names, prefix, filter, limit: LIST_CONCURRENCY }, ctx, (key) => this.read(key, ctx), (key) => `${this.describe}: object ${key}`),
    );
  }

  /** Every object under `prefix`, a listed page at a time, through `readPage`; the results in order. */
  private async eachPage<T>(prefix: string, ctx: StoreContext, readPage: (names: string[]) => Promise<T[]>): Promise<T[]> {
    throwIfAborted(ctx);
    // Up to LIST_CONCURRENCY requests share the caller's signal, each listening for its abort.
    setMaxListeners(Math.max(LIST_CONCURRENCY * 2, 20), ctx.signal);
    const out: T[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(ctx, `listing ${prefix}`, (options) =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token !== undefined ? { ContinuationToken: token } : {}) }), options),
      );
      out.push(...(await readPage((page.Contents ?? []).flatMap((object) => (object.Key !== undefined ? [object.Key] : [])))));
      if (page.IsTruncated && !page.NextContinuationToken) {
        throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `${this.describe}: listing ${prefix}: the server said there are more keys but gave no continuation token`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    throwIfAborted(ctx);
    return out;
  }

  async listLocks(ctx: StoreContext): Promise<LockInfo[]> {
    const prefix = `${this.base}locks/`;
    return this.eachPage(prefix, ctx, (names) =>
      readListedLocks({ names, prefix, limit: LIST_CONCURRENCY }, ctx, (key) => this.read(key, ctx), (key) => `${this.describe}: lock object ${key}`),
    );
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    // S3 answers 204 for a key that does not exist: deleting twice is fine.
    await this.remove(this.recordKey(resourceId), ctx);
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const key = this.lockKey(resourceId);
    return takeLockObject(resourceId, request, {
      atomic: this.atomicLocks,
      describe: this.describe,
      createIfAbsent: (body) => this.write(key, body, ctx, true),
      write: async (body) => void (await this.write(key, body, ctx)),
      holder: () => this.readLock(resourceId, ctx),
    });
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    checkRelease(resourceId, lockId, await this.readLock(resourceId, ctx), options?.force);
    await this.remove(this.lockKey(resourceId), ctx);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/**
 * Whether the server honours If-None-Match: * on PUT: writes a probe object,
 * then writes it again on that condition, which must fail. Removes the probe
 * either way.
 */
function probeConditionalWrites(
  client: S3Client,
  settings: S3Settings,
  ctx: StoreContext,
  unavailable: (err: unknown, what: string) => WfctlError,
): Promise<ConditionalCreateSupport> {
  const key = `${settings.prefix}.wfctl-probe-${randomUUID()}`;
  return probeConditionalCreate({
    name: key,
    ctx,
    unavailable,
    write: (conditional) =>
      client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: key, Body: "wfctl conditional-write probe", ...(conditional ? { IfNoneMatch: "*" } : {}) }), {
        abortSignal: ctx.signal,
      }),
    cleanup: (signal) => client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key: key }), { abortSignal: signal }),
    overwritten: "it accepted If-None-Match: * on a PUT to an object that exists, and overwrote it",
    classify: (err) => {
      const status = statusOf(err);
      if (isConditionFailed(err)) return { supported: true };
      // The server refuses the header itself.
      if (status === 501 || (status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 403)) {
        return { supported: false, why: `it refused If-None-Match: * on PUT: ${reason(err)}` };
      }
      return undefined;
    },
  });
}
