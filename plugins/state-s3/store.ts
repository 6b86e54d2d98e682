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
import { isJsonObject } from "../../proto/json.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  lockHeldError,
  matchesFilter,
  throwIfAborted,
} from "../../proto/state-store.js";
import { type S3Settings, describeCredentials, describeSettings } from "./settings.js";

/** Records read at once while listing. */
export const LIST_CONCURRENCY = 16;
/** How long to wait for a TCP connection before trying again (a wrong endpoint must not hang Configure). */
const CONNECT_TIMEOUT_MS = 5_000;
/** Removing the probe object must not depend on the caller still waiting. */
const PROBE_CLEANUP_TIMEOUT_MS = 10_000;

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

function corrupt(what: string, problem: string): WfctlError {
  return new WfctlError(ErrorCode.STATE_CORRUPT, `${what} ${problem}`);
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw corrupt(what, `is not valid JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(parsed)) throw corrupt(what, "is not a JSON object");
  return parsed;
}

const LOCK_FIELDS = ["lockId", "resourceId", "holder", "operation", "createdAt", "version"] as const;

function parseLock(text: string, what: string): LockInfo {
  const parsed = parseObject(text, what);
  for (const field of LOCK_FIELDS) {
    if (typeof parsed[field] !== "string") throw corrupt(what, `is not a lock: field "${field}" is missing or not a string`);
  }
  return parsed as unknown as LockInfo;
}

/** Runs `fn` over `items`, at most `limit` at once; after a failure starts nothing more, waits for the rest, then rethrows it. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.err;
  return results;
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
      if (!support.supported && settings.conditionalWrites) {
        const text =
          `s3 state backend: field "config.conditional_writes": ${describe} does not support conditional writes ` +
          `(${support.why}), so state locks cannot be atomic. Set conditional_writes: false to accept check-then-write locking ` +
          `(read the lock, write it, read it back): it has a race window in which two holders starting in the same instant can both take the lock.`;
        throw new WfctlError(ErrorCode.CONFIG_INVALID, text, { details: [{ message: text, field: "config.conditional_writes" }] });
      }
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

  /** A store call: the caller's cancellation goes to the SDK; an abort becomes CANCELLED / DEADLINE_EXCEEDED, anything else names the store. */
  private async call<T>(ctx: StoreContext, what: string, fn: (options: SendOptions) => Promise<T>, expected?: (err: unknown) => T | undefined): Promise<T> {
    throwIfAborted(ctx);
    try {
      return await fn({ abortSignal: ctx.signal });
    } catch (err) {
      throwIfAborted(ctx);
      if (err instanceof WfctlError) throw err;
      const value = expected?.(err);
      if (value !== undefined) return value;
      throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `${this.describe}: ${what}: ${reason(err)}`, { cause: err });
    }
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

  private parseRecord(text: string, key: string, resourceId?: string): ResourceState {
    const what = `${this.describe}: object ${key}`;
    const parsed = parseObject(text, what);
    if (typeof parsed["resourceId"] !== "string") throw corrupt(what, 'is not a state record: field "resourceId" is missing or not a string');
    if (resourceId !== undefined && parsed["resourceId"] !== resourceId) throw corrupt(what, `holds the record of "${parsed["resourceId"]}", not "${resourceId}"`);
    return parsed as unknown as ResourceState;
  }

  private async readLock(resourceId: string, ctx: StoreContext): Promise<LockInfo | undefined> {
    const key = this.lockKey(resourceId);
    const text = await this.read(key, ctx);
    return text === undefined ? undefined : parseLock(text, `${this.describe}: lock object ${key}`);
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    const key = this.recordKey(resourceId);
    const text = await this.read(key, ctx);
    return text === undefined ? undefined : this.parseRecord(text, key, resourceId);
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    // One PUT replaces the object whole: a retry writes the same bytes again.
    await this.write(this.recordKey(state.resourceId), JSON.stringify(state), ctx);
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    throwIfAborted(ctx);
    // Up to LIST_CONCURRENCY requests share the caller's signal, each listening for its abort.
    setMaxListeners(Math.max(LIST_CONCURRENCY * 2, 20), ctx.signal);
    const prefix = `${this.base}resources/`;
    const out: ResourceState[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(ctx, `listing ${prefix}`, (options) =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token !== undefined ? { ContinuationToken: token } : {}) }), options),
      );
      const keys = (page.Contents ?? [])
        .map((object) => object.Key)
        .filter((key): key is string => key !== undefined && key.endsWith(".json") && !key.slice(prefix.length).includes("/"));
      const records = await mapBounded(keys, LIST_CONCURRENCY, async (key) => {
        throwIfAborted(ctx);
        const text = await this.read(key, ctx);
        // Deleted between the listing and the read: it is no longer a record.
        return text === undefined ? undefined : this.parseRecord(text, key);
      });
      for (const record of records) if (record !== undefined && matchesFilter(record, filter)) out.push(record);
      if (page.IsTruncated && !page.NextContinuationToken) {
        throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `${this.describe}: listing ${prefix}: the server said there are more keys but gave no continuation token`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    throwIfAborted(ctx);
    return out;
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    // S3 answers 204 for a key that does not exist: deleting twice is fine.
    await this.remove(this.recordKey(resourceId), ctx);
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const key = this.lockKey(resourceId);
    const lock: LockInfo = { ...request, lockId: randomUUID(), resourceId, createdAt: new Date().toISOString() };
    const body = JSON.stringify(lock);
    if (this.atomicLocks) {
      if (await this.write(key, body, ctx, true)) return lock;
      const held = await this.readLock(resourceId, ctx);
      // Released between the write and the look (or a 409: another taker still writing): say so rather than retry silently.
      if (!held) throw new WfctlError(ErrorCode.LOCK_HELD, `the lock on "${resourceId}" (${this.describe}) is being taken, or was just released, by someone else; try again`);
      throw lockHeldError(held);
    }
    // conditional_writes: false on a server without them: check, write, read back.
    const held = await this.readLock(resourceId, ctx);
    if (held) throw lockHeldError(held);
    await this.write(key, body, ctx);
    const after = await this.readLock(resourceId, ctx);
    if (after?.lockId === lock.lockId) return lock;
    if (!after) throw new WfctlError(ErrorCode.LOCK_HELD, `the lock on "${resourceId}" (${this.describe}) was released by someone else while it was being taken; try again`);
    throw lockHeldError(after);
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    const held = await this.readLock(resourceId, ctx);
    if (!held) throw new WfctlError(ErrorCode.NOT_FOUND, `no lock is held on "${resourceId}"`);
    if (held.lockId !== lockId && !options?.force) {
      throw new WfctlError(ErrorCode.LOCK_HELD, `cannot unlock "${resourceId}" as ${lockId}: it is held by ${held.holder} as ${held.lockId}`);
    }
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
async function probeConditionalWrites(
  client: S3Client,
  settings: S3Settings,
  ctx: StoreContext,
  unavailable: (err: unknown, what: string) => WfctlError,
): Promise<{ supported: true } | { supported: false; why: string }> {
  const key = `${settings.prefix}.wfctl-probe-${randomUUID()}`;
  const put = (conditional: boolean) =>
    client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: key, Body: "wfctl conditional-write probe", ...(conditional ? { IfNoneMatch: "*" } : {}) }), {
      abortSignal: ctx.signal,
    });
  let result: { supported: true } | { supported: false; why: string };
  try {
    try {
      await put(false);
    } catch (err) {
      throwIfAborted(ctx);
      throw unavailable(err, `writing the object ${key}`);
    }
    try {
      await put(true);
      result = { supported: false, why: "it accepted If-None-Match: * on a PUT to an object that exists, and overwrote it" };
    } catch (err) {
      throwIfAborted(ctx);
      const status = statusOf(err);
      if (isConditionFailed(err)) {
        result = { supported: true };
      } else if (status === 501 || (status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 403)) {
        // The server refuses the header itself.
        result = { supported: false, why: `it refused If-None-Match: * on PUT: ${reason(err)}` };
      } else {
        throw unavailable(err, `writing the object ${key} with If-None-Match: *`);
      }
    }
  } catch (err) {
    await client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key: key }), { abortSignal: AbortSignal.timeout(PROBE_CLEANUP_TIMEOUT_MS) }).catch(() => {});
    throw err;
  }
  try {
    await client.send(new DeleteObjectCommand({ Bucket: settings.bucket, Key: key }), { abortSignal: ctx.signal });
  } catch (err) {
    throwIfAborted(ctx);
    throw unavailable(err, `deleting the probe object ${key}`);
  }
  return result;
}
