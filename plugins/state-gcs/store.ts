// The gcs state store: one object per record, one object per held lock, in a
// Google Cloud Storage bucket. A lock is taken by creating its object with
// the does-not-exist precondition (ifGenerationMatch: 0), which fails at once
// when the object exists; it is released by deleting exactly the generation
// that was read, so a force-unlock never removes a lock taken since. A server
// that ignores preconditions is refused unless the module accepts
// check-then-write locking (conditional_writes: false).
//
// The SDK takes no AbortSignal: a call the caller gives up on ends with
// CANCELLED / DEADLINE_EXCEEDED at once while its request finishes unseen.
import { randomUUID } from "node:crypto";
import { type File, IdempotencyStrategy, Storage, type StorageOptions } from "@google-cloud/storage";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type LockInfo, type LockRequest, type ResourceState, type StateStore, type StoreContext, checkFilter, lockHeldError, recordJson, throwIfAborted } from "../../proto/state-store.js";
import {
  type ConditionalCreateSupport,
  abortable,
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
import { type GcsSettings, describeCredentials, describeSettings } from "./settings.js";

/** Records read at once while listing. */
export const LIST_CONCURRENCY = 16;
const LIST_PAGE_SIZE = 1000;
/** One HTTP request's limit; the SDK retries transient failures within RETRY_TOTAL_S. */
const REQUEST_TIMEOUT_MS = 30_000;
const RETRY_TOTAL_S = 60;

/** The parts of an SDK error we read: ApiError carries the HTTP status as a number, network errors a string code. */
interface SdkError {
  code?: number | string;
  message?: string;
  errors?: { reason?: string; message?: string }[];
}

function sdkError(err: unknown): SdkError {
  return typeof err === "object" && err !== null ? (err as SdkError) : { message: String(err) };
}

function statusOf(err: unknown): number | undefined {
  const { code } = sdkError(err);
  return typeof code === "number" ? code : undefined;
}

/** Why a store call failed, in words. */
function reason(err: unknown): string {
  const e = sdkError(err);
  const status = statusOf(err);
  const message = (e.message ?? "unknown error").split("\n")[0] ?? "";
  if (status === 401 || status === 403) return `access denied (HTTP ${status}): ${message}: check the credentials and their roles on the bucket`;
  if (status === 404 && /bucket/i.test(message)) return "the bucket does not exist (HTTP 404): check config.bucket";
  if (status !== undefined) return `HTTP ${status}: ${message}`;
  if (/default credentials|could not load the default|invalid_grant|private_key/i.test(message)) return `no usable credentials: ${message}`;
  if (typeof e.code === "string") return `cannot connect: ${message}`;
  return message;
}

/**
 * The SDK client's options for a project, endpoint and credentials: requests
 * limited and retried (every call wfctl makes is safe to repeat). Shared with
 * the gcs provider plugin.
 */
export function storageOptions(settings: Pick<GcsSettings, "projectId" | "apiEndpoint" | "credentials">): StorageOptions {
  const { credentials } = settings;
  return {
    ...(settings.projectId !== undefined ? { projectId: settings.projectId } : {}),
    ...(settings.apiEndpoint !== undefined ? { apiEndpoint: settings.apiEndpoint, useAuthWithCustomEndpoint: credentials.kind !== "default" } : {}),
    ...(credentials.kind === "env" ? { credentials: credentials.json } : credentials.kind === "key_file" ? { keyFilename: credentials.path } : {}),
    timeout: REQUEST_TIMEOUT_MS,
    retryOptions: {
      autoRetry: true,
      maxRetries: 3,
      totalTimeout: RETRY_TOTAL_S,
      maxRetryDelay: 8,
      // Every call is safe to repeat. State: a save replaces the object
      // whole, a lock carries its own id (a repeated create that finds it is
      // ours), a delete of a missing object is done. Buckets: a patch is
      // conditional on the metageneration read (a repeat is refused with 412
      // and the provider reads again), a repeated create is refused (409).
      // Without this the SDK turns retries off client-wide while an
      // unconditional patch or delete runs.
      idempotencyStrategy: IdempotencyStrategy.RetryAlways,
    },
  };
}

export class GcsStateStore implements StateStore {
  private constructor(
    private readonly storage: Storage,
    private readonly settings: GcsSettings,
    /** `<prefix><namespace>/`: every object of this store starts with it. */
    private readonly base: string,
    /** True: the server honours ifGenerationMatch, a lock is one conditional create. */
    private readonly atomicLocks: boolean,
    private readonly describe: string,
  ) {}

  /**
   * Checks, before any state is touched, that the bucket can be listed with
   * these credentials and that the server honours preconditions (or that the
   * module accepts locking without them).
   */
  static async open(settings: GcsSettings, namespace: string, ctx: StoreContext): Promise<GcsStateStore> {
    throwIfAborted(ctx);
    if (namespace === "") throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "gcs state backend: the namespace is empty");
    const storage = new Storage(storageOptions(settings));
    const describe = describeSettings(settings);
    const unavailable = (err: unknown, what: string) =>
      new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `cannot use ${describe} with ${describeCredentials(settings)}: ${what}: ${reason(err)}`, { cause: err });
    const bucket = storage.bucket(settings.bucket);
    try {
      // Listing needs storage.objects.list, which the backend needs anyway (bucket metadata would need more).
      await abortable(ctx, bucket.getFiles({ prefix: settings.prefix, maxResults: 1, autoPaginate: false }));
    } catch (err) {
      throwIfAborted(ctx);
      throw unavailable(err, "listing the bucket");
    }
    const support = await probePreconditions(storage, settings, ctx, unavailable);
    if (!support.supported && settings.conditionalWrites) throw conditionalWritesRequired("gcs state backend", describe, support.why, "honour preconditions");
    return new GcsStateStore(storage, settings, `${settings.prefix}${encodeURIComponent(namespace)}/`, support.supported, describe);
  }

  private file(name: string, generation?: string): File {
    return this.storage.bucket(this.settings.bucket).file(name, generation !== undefined ? { generation } : {});
  }

  private recordName(resourceId: string): string {
    return `${this.base}resources/${encodeURIComponent(resourceId)}.json`;
  }

  private lockName(resourceId: string): string {
    return `${this.base}locks/${encodeURIComponent(resourceId)}.lock`;
  }

  /** A store call that ends as soon as the caller gives up (the SDK takes no signal); `expected` turns a 404 or 412 into a value. */
  private call<T>(ctx: StoreContext, what: string, fn: () => Promise<T>, expected?: (err: unknown) => T | undefined): Promise<T> {
    return storeCall(ctx, { describe: this.describe, reason }, what, () => abortable(ctx, fn()), expected);
  }

  /** An object's text, or undefined when there is none (at that generation, when one is given). */
  private async read(name: string, ctx: StoreContext, generation?: string): Promise<string | undefined> {
    const text = await this.call<string | null>(
      ctx,
      `reading ${name}`,
      async () => {
        const [bytes] = await this.file(name, generation).download();
        return bytes.toString("utf8");
      },
      (err) => (statusOf(err) === 404 ? null : undefined),
    );
    return text ?? undefined;
  }

  /** Writes an object whole; with `ifAbsent`, returns false instead when it already exists. */
  private async write(name: string, body: string, ctx: StoreContext, ifAbsent = false): Promise<boolean> {
    return this.call(
      ctx,
      `writing ${name}`,
      async () => {
        await this.file(name).save(body, {
          resumable: false,
          contentType: "application/json",
          ...(ifAbsent ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
        });
        return true;
      },
      (err) => (ifAbsent && statusOf(err) === 412 ? false : undefined),
    );
  }

  /** Deletes an object; with `generation`, only that generation (false when it is no longer the live one). Missing is done. */
  private async remove(name: string, ctx: StoreContext, generation?: string): Promise<boolean> {
    return this.call(
      ctx,
      `deleting ${name}`,
      async () => {
        await this.file(name).delete(generation !== undefined ? { ifGenerationMatch: generation } : {});
        return true;
      },
      (err) => (statusOf(err) === 404 ? true : statusOf(err) === 412 ? false : undefined),
    );
  }

  /** The lock object's content and generation, or undefined when no lock is held. */
  private async readLock(resourceId: string, ctx: StoreContext): Promise<{ info: LockInfo; generation: string } | undefined> {
    const name = this.lockName(resourceId);
    for (;;) {
      const metadata = await this.call<{ generation?: string | number } | null>(
        ctx,
        `reading ${name}`,
        async () => (await this.file(name).getMetadata())[0],
        (err) => (statusOf(err) === 404 ? null : undefined),
      );
      if (metadata === null) return undefined;
      if (metadata.generation === undefined) throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `${this.describe}: the lock object ${name} has no generation`);
      const generation = String(metadata.generation);
      const text = await this.read(name, ctx, generation);
      // Replaced between the two reads: look again.
      if (text !== undefined) return { info: parseLock(text, `${this.describe}: lock object ${name}`), generation };
    }
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    const name = this.recordName(resourceId);
    const text = await this.read(name, ctx);
    return text === undefined ? undefined : parseRecord(text, `${this.describe}: object ${name}`, resourceId);
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    // One upload replaces the object whole: a retry writes the same bytes again.
    await this.write(this.recordName(state.resourceId), recordJson(state), ctx);
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    const prefix = `${this.base}resources/`;
    return this.eachPage(prefix, ctx, (names) =>
      readListedRecords({ names, prefix, filter, limit: LIST_CONCURRENCY }, ctx, (name) => this.read(name, ctx), (name) => `${this.describe}: object ${name}`),
    );
  }

  /** Every object under `prefix`, a listed page at a time, through `readPage`; the results in order. */
  private async eachPage<T>(prefix: string, ctx: StoreContext, readPage: (names: string[]) => Promise<T[]>): Promise<T[]> {
    throwIfAborted(ctx);
    const bucket = this.storage.bucket(this.settings.bucket);
    const out: T[] = [];
    let pageToken: string | undefined;
    do {
      const [files, next] = await this.call(ctx, `listing ${prefix}`, () =>
        bucket.getFiles({ prefix, autoPaginate: false, maxResults: LIST_PAGE_SIZE, ...(pageToken !== undefined ? { pageToken } : {}) }),
      );
      out.push(...(await readPage(files.map((file) => file.name))));
      const token = (next as { pageToken?: unknown } | null | undefined)?.pageToken;
      pageToken = typeof token === "string" && token !== "" ? token : undefined;
    } while (pageToken !== undefined);
    throwIfAborted(ctx);
    return out;
  }

  async listLocks(ctx: StoreContext): Promise<LockInfo[]> {
    const prefix = `${this.base}locks/`;
    return this.eachPage(prefix, ctx, (names) =>
      readListedLocks({ names, prefix, limit: LIST_CONCURRENCY }, ctx, (name) => this.read(name, ctx), (name) => `${this.describe}: lock object ${name}`),
    );
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    await this.remove(this.recordName(resourceId), ctx);
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const name = this.lockName(resourceId);
    return takeLockObject(resourceId, request, {
      atomic: this.atomicLocks,
      describe: this.describe,
      createIfAbsent: (body) => this.write(name, body, ctx, true),
      write: async (body) => void (await this.write(name, body, ctx)),
      holder: async () => (await this.readLock(resourceId, ctx))?.info,
    });
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    const held = await this.readLock(resourceId, ctx);
    checkRelease(resourceId, lockId, held?.info, options?.force);
    if (!held) return;
    // Only the generation read: a lock taken since stays.
    if (!(await this.remove(this.lockName(resourceId), ctx, held.generation))) {
      const now = await this.readLock(resourceId, ctx);
      if (now) throw lockHeldError(now.info, `the lock on "${resourceId}" changed while it was being released: it is now held by ${now.info.holder} as ${now.info.lockId}`);
    }
  }

  async close(): Promise<void> {}
}

/**
 * Whether the server honours ifGenerationMatch=0 on upload: writes a probe
 * object, then creates it again on that precondition, which must fail with
 * 412. Removes the probe either way.
 */
function probePreconditions(
  storage: Storage,
  settings: GcsSettings,
  ctx: StoreContext,
  unavailable: (err: unknown, what: string) => WfctlError,
): Promise<ConditionalCreateSupport> {
  const name = `${settings.prefix}.wfctl-probe-${randomUUID()}`;
  const file = storage.bucket(settings.bucket).file(name);
  return probeConditionalCreate({
    name,
    ctx,
    unavailable,
    write: (conditional) =>
      abortable(ctx, file.save("wfctl precondition probe", { resumable: false, ...(conditional ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}) })),
    cleanup: (signal) => abortable({ signal }, file.delete({ ignoreNotFound: true })),
    overwritten: "it accepted ifGenerationMatch=0 on an upload to an object that exists, and overwrote it",
    classify: (err) => {
      const status = statusOf(err);
      if (status === 412) return { supported: true };
      if (status === 400 || status === 501) return { supported: false, why: `it refused ifGenerationMatch on upload: ${reason(err)}` };
      return undefined;
    },
  });
}
