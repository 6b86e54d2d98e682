// The azure_blob state store: one blob per record, one blob per lock, in a
// container of an Azure Storage account.
//
//   <prefix><namespace>/resources/<encoded id>.json   the ResourceState JSON
//   <prefix><namespace>/locks/<encoded id>.lock       the LockInfo JSON of the holder
//
// A lock is an infinite blob lease on the lock blob, with the lock id as the
// lease id: taking it fails at once when a lease is present, and the blob's
// body names the holder. An infinite lease never expires under a holder that
// still runs (a fixed one could lapse mid-apply and let a second apply in);
// a holder that died leaves it visible, released with `wfctl infra state unlock`.
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import type { BlobServiceClient, BlockBlobClient, ContainerClient } from "@azure/storage-blob";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  LOCK_ATTEMPTS,
  lockHeldError,
  lockKeptChanging,
  matchesFilter,
  newLock,
  noLockHeld,
  recordJson,
  throwIfAborted,
  unlockRefused,
  unreadableLock,
} from "../../proto/state-store.js";
import { inParallel, lockOrUndefined, parseNamedRecord } from "../sdk/store-kit.js";
import { BodyCache, readBody } from "./body-cache.js";
import { type Target, isBlobMissing, isStatus, storageError } from "./errors.js";
import { type AzureBlobSettings, serviceClient } from "./settings.js";

/** Records downloaded at once while listing. */
export const LIST_CONCURRENCY = 32;
/** Blobs per listing page. */
const LIST_PAGE_SIZE = 1000;
const RECORD_SUFFIX = ".json";
const LOCK_SUFFIX = ".lock";
/** Lease ids are GUIDs; a lock id that is not one cannot be a lease we granted. */
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const JSON_HEADERS = { blobContentType: "application/json" };

/**
 * A name as one blob-name segment: percent-encoded, so "/" and URL-special
 * characters never split or escape the layout; a segment of dots only (which
 * URLs would resolve as "." or "..") has its dots encoded too.
 */
export function encodeName(name: string): string {
  const encoded = encodeURIComponent(name).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return /^\.*$/.test(encoded) ? encoded.replaceAll(".", "%2E") : encoded;
}

const sleep = (ms: number, ctx: StoreContext) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    ctx.signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      ctx.signal.removeEventListener("abort", done);
      resolve();
    }
  });

export class AzureBlobStateStore implements StateStore {
  private readonly target: Target;
  private readonly base: string;
  private readonly cache = new BodyCache();

  private constructor(
    private readonly container: ContainerClient,
    settings: AzureBlobSettings,
    private readonly namespace: string,
  ) {
    this.base = `${settings.prefix}${encodeName(namespace)}/`;
    this.target = { describe: `account ${settings.accountUrl}, container ${settings.container}, namespace ${namespace}`, secrets: settings.secrets };
  }

  /**
   * Connects and checks the container is there and readable (a wrong URL or
   * key fails here, at Configure), creating it when create_container is set.
   */
  static async open(settings: AzureBlobSettings, namespace: string, ctx: StoreContext): Promise<AzureBlobStateStore> {
    throwIfAborted(ctx);
    if (namespace === "") throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "azure_blob: a namespace is required");
    const target: Target = { describe: `account ${settings.accountUrl}, container ${settings.container}`, secrets: settings.secrets };
    let service: BlobServiceClient;
    try {
      service = await serviceClient(settings);
    } catch (err) {
      throw storageError(err, target, "creating the storage client", ctx);
    }
    const container = service.getContainerClient(settings.container);
    const store = new AzureBlobStateStore(container, settings, namespace);
    try {
      // Listing is a permission the store needs anyway (a container-scoped SAS may not read container properties).
      await container.listBlobsFlat({ prefix: store.base, abortSignal: ctx.signal }).byPage({ maxPageSize: 1 }).next();
    } catch (err) {
      if (!isStatus(err, 404, "ContainerNotFound")) throw storageError(err, target, "checking the container", ctx);
      throwIfAborted(ctx);
      if (!settings.createContainer) {
        throw new WfctlError(
          ErrorCode.STATE_BACKEND_UNAVAILABLE,
          `azure_blob (${target.describe}): the container "${settings.container}" does not exist; create it, or set create_container: true in the iac.state module's config`,
          { cause: err, details: [{ message: `container "${settings.container}" does not exist`, field: "config.container" }] },
        );
      }
      try {
        await container.createIfNotExists({ abortSignal: ctx.signal });
      } catch (createErr) {
        throw storageError(createErr, target, `creating the container "${settings.container}"`, ctx);
      }
    }
    return store;
  }

  private recordName(resourceId: string): string {
    return `${this.base}resources/${encodeName(resourceId)}${RECORD_SUFFIX}`;
  }

  private lockBlob(resourceId: string): BlockBlobClient {
    return this.container.getBlockBlobClient(`${this.base}locks/${encodeName(resourceId)}${LOCK_SUFFIX}`);
  }

  private error(err: unknown, what: string, ctx: StoreContext): WfctlError {
    return storageError(err, this.target, what, ctx);
  }

  /** A record; `listedEtag` (from a listing) lets an unchanged body come from the cache. */
  private async readRecord(name: string, ctx: StoreContext, signal: AbortSignal = ctx.signal, listedEtag?: string): Promise<ResourceState | undefined> {
    const [what, prefix] = [`the state record blob ${name}`, `${this.base}resources/`];
    const cached = this.cache.get(name, listedEtag);
    if (cached !== undefined) return parseNamedRecord(cached, what, name, prefix);
    let text: string;
    try {
      const response = await this.container.getBlobClient(name).download(0, undefined, { abortSignal: signal });
      text = (await readBody(response.readableStreamBody)).toString("utf8");
      this.cache.set(name, response.etag, text);
    } catch (err) {
      if (isBlobMissing(err) && !ctx.signal.aborted) {
        this.cache.delete(name);
        return undefined;
      }
      throw this.error(err, `reading ${name}`, ctx);
    }
    return parseNamedRecord(text, what, name, prefix);
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    throwIfAborted(ctx);
    return this.readRecord(this.recordName(resourceId), ctx);
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    const text = recordJson(state);
    const body = Buffer.from(text, "utf8");
    const name = this.recordName(state.resourceId);
    // One Put Blob: the record is replaced whole, and racing writers leave exactly one of them.
    try {
      const response = await this.container.getBlockBlobClient(name).upload(body, body.length, { abortSignal: ctx.signal, blobHTTPHeaders: JSON_HEADERS });
      this.cache.set(name, response.etag, text);
    } catch (err) {
      this.cache.delete(name);
      throw this.error(err, `saving the record of "${state.resourceId}"`, ctx);
    }
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    throwIfAborted(ctx);
    const prefix = `${this.base}resources/`;
    const out: ResourceState[] = [];
    // One listener on the caller's signal instead of one per download in flight (Node warns past 10).
    const controller = new AbortController();
    setMaxListeners(LIST_CONCURRENCY * 4 + 16, controller.signal);
    const onAbort = () => controller.abort(ctx.signal.reason);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const page of this.container.listBlobsFlat({ prefix, abortSignal: controller.signal }).byPage({ maxPageSize: LIST_PAGE_SIZE })) {
        throwIfAborted(ctx);
        const blobs = page.segment.blobItems.filter((b) => b.name.endsWith(RECORD_SUFFIX));
        // A record deleted between the listing and its download is simply not listed.
        const records = await inParallel(blobs, LIST_CONCURRENCY, ctx, (b) =>
          this.readRecord(b.name, ctx, controller.signal, b.properties.etag).catch((err: unknown) => {
            controller.abort(); // the listing has failed: stop the downloads still in flight at once
            throw err;
          }),
        );
        for (const record of records) if (record && matchesFilter(record, filter)) out.push(record);
      }
    } catch (err) {
      controller.abort(); // stop the downloads still in flight: the listing has failed
      throw this.error(err, "listing the records", ctx);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
    }
    throwIfAborted(ctx);
    return out;
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    try {
      await this.container.getBlobClient(this.recordName(resourceId)).deleteIfExists({ abortSignal: ctx.signal });
    } catch (err) {
      throw this.error(err, `deleting the record of "${resourceId}"`, ctx);
    }
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const lock = newLock(resourceId, request, randomUUID());
    const body = Buffer.from(JSON.stringify(lock), "utf8");
    const blob = this.lockBlob(resourceId);
    const what = `taking the lock on "${resourceId}"`;
    // A few rounds only when the lock blob is created, deleted or rewritten under us; contention itself fails at once.
    for (let round = 0; round < LOCK_ATTEMPTS; round++) {
      // Create the lock blob with our record unless it exists (If-None-Match: *: of two creators, one wins).
      let created: string | undefined;
      try {
        created = (await blob.upload(body, body.length, { abortSignal: ctx.signal, conditions: { ifNoneMatch: "*" }, blobHTTPHeaders: JSON_HEADERS })).etag;
      } catch (err) {
        if (!isStatus(err, 409) && !isStatus(err, 412)) throw this.error(err, what, ctx);
      }
      try {
        // If-Match on what we created: when the lease is granted, the body is still ours.
        await blob.getBlobLeaseClient(lock.lockId).acquireLease(-1, { abortSignal: ctx.signal, conditions: created ? { ifMatch: created } : {} });
      } catch (err) {
        if (isStatus(err, 409, "LeaseAlreadyPresent")) {
          const held = await this.holder(resourceId, lock.lockId, ctx);
          if (held) throw lockHeldError(held);
          continue; // released meanwhile: try again
        }
        if (isBlobMissing(err) || isStatus(err, 412)) continue; // deleted or rewritten meanwhile
        throw this.error(err, what, ctx);
      }
      if (created === undefined) {
        // The blob was there before (a previous holder's record): make it name us, under our lease.
        try {
          await blob.upload(body, body.length, { abortSignal: ctx.signal, conditions: { leaseId: lock.lockId }, blobHTTPHeaders: JSON_HEADERS });
        } catch (err) {
          // Never keep a lease whose body names someone else; deleting under the lease releases it.
          await blob.delete({ conditions: { leaseId: lock.lockId }, abortSignal: AbortSignal.timeout(30_000) }).catch(() => {});
          throw this.error(err, what, ctx);
        }
      }
      return lock;
    }
    throw lockKeptChanging(resourceId, `namespace ${this.namespace}`);
  }

  /**
   * Who holds the lease on the lock blob, from its body; undefined when no
   * lease is held any more. A holder that has just been granted the lease may
   * not have written its record yet: wait a moment for it, then say so.
   */
  private async holder(resourceId: string, ownLockId: string, ctx: StoreContext): Promise<LockInfo | undefined> {
    const blob = this.lockBlob(resourceId);
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.readLock(blob, `reading the lock on "${resourceId}"`, ctx);
      if (!current?.leased) return undefined;
      if (current.info && current.info.lockId !== ownLockId) return current.info;
      await sleep(50, ctx);
      throwIfAborted(ctx);
    }
    throw lockHeldError(
      this.unnamedHolder(resourceId, blob),
      `state lock "${resourceId}" is held, but the lock blob ${blob.name} does not name its holder yet (it was just taken, or its record is unreadable); try again`,
    );
  }

  /** A leased lock blob whose body names no holder: held, with no id to release it by (only a forced unlock does). */
  private unnamedHolder(resourceId: string, blob: BlockBlobClient): LockInfo {
    return unreadableLock(resourceId, `the lock blob ${blob.name} is leased but its body names no holder`);
  }

  /** The lock blob's lease state and record; undefined when there is no lock blob. */
  private async readLock(blob: BlockBlobClient, what: string, ctx: StoreContext): Promise<{ leased: boolean; info: LockInfo | undefined } | undefined> {
    try {
      const response = await blob.download(0, undefined, { abortSignal: ctx.signal });
      const bytes = await readBody(response.readableStreamBody);
      // "breaking" still holds until its break period ends; an infinite lease never "expires".
      return { leased: response.leaseState === "leased" || response.leaseState === "breaking", info: lockOrUndefined(bytes.toString("utf8")) };
    } catch (err) {
      if (isBlobMissing(err) && !ctx.signal.aborted) return undefined;
      throw this.error(err, what, ctx);
    }
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    throwIfAborted(ctx);
    const blob = this.lockBlob(resourceId);
    const what = `releasing the lock on "${resourceId}"`;
    const notHeld = () => noLockHeld(resourceId, `namespace ${this.namespace}`);
    if (options?.force) {
      const current = await this.readLock(blob, what, ctx);
      if (!current?.leased) throw notHeld();
      try {
        await blob.getBlobLeaseClient().breakLease(0, { abortSignal: ctx.signal });
      } catch (err) {
        if (isBlobMissing(err) || isStatus(err, 409, "LeaseNotPresentWithLeaseOperation")) throw notHeld();
        throw this.error(err, what, ctx);
      }
      // The lease is broken; remove the old holder's record, unless someone has taken the lock since (412).
      try {
        await blob.delete({ abortSignal: ctx.signal });
      } catch (err) {
        if (!isBlobMissing(err) && !isStatus(err, 412)) throw this.error(err, what, ctx);
      }
      return;
    }
    if (GUID.test(lockId)) {
      // Deleting under the lease releases it and removes the record in one step, only if the lease is ours.
      try {
        await blob.delete({ abortSignal: ctx.signal, conditions: { leaseId: lockId } });
        return;
      } catch (err) {
        if (isBlobMissing(err) || isStatus(err, 412, "LeaseNotPresentWithBlobOperation")) {
          throwIfAborted(ctx);
          throw notHeld();
        }
        if (!isStatus(err, 412, "LeaseIdMismatchWithBlobOperation")) throw this.error(err, what, ctx);
      }
    }
    const current = await this.readLock(blob, what, ctx);
    if (!current?.leased) throw notHeld();
    throw unlockRefused(resourceId, lockId, current.info ?? this.unnamedHolder(resourceId, blob));
  }

  /** Every leased lock blob of the namespace, as the lock its body names (or, naming none, held with no id). */
  async listLocks(ctx: StoreContext): Promise<LockInfo[]> {
    throwIfAborted(ctx);
    const prefix = `${this.base}locks/`;
    const names: string[] = [];
    try {
      for await (const page of this.container.listBlobsFlat({ prefix, abortSignal: ctx.signal }).byPage({ maxPageSize: LIST_PAGE_SIZE })) {
        names.push(...page.segment.blobItems.map((b) => b.name).filter((name) => name.endsWith(LOCK_SUFFIX) && !name.slice(prefix.length).includes("/")));
      }
    } catch (err) {
      throw this.error(err, "listing the locks", ctx);
    }
    const locks = await inParallel(names, LIST_CONCURRENCY, ctx, async (name) => {
      const blob = this.container.getBlockBlobClient(name);
      const current = await this.readLock(blob, `reading the lock blob ${name}`, ctx);
      if (!current?.leased) return undefined;
      let resourceId: string;
      try {
        resourceId = decodeURIComponent(name.slice(prefix.length, -LOCK_SUFFIX.length));
      } catch {
        resourceId = name.slice(prefix.length, -LOCK_SUFFIX.length);
      }
      return current.info ?? this.unnamedHolder(resourceId, blob);
    });
    return locks.filter((lock): lock is LockInfo => lock !== undefined);
  }

  /** Nothing durable to release: the HTTP client keeps no lease or session. */
  async close(): Promise<void> {}
}
