// Pieces every object-store state backend needs: reading a record or a lock
// back from the bytes it stored (anything else, a record under another
// resource's key included, is STATE_CORRUPT, never a guess), reading many records at a bounded concurrency that stops at the
// first failure or cancellation, giving up on a call the SDK cannot cancel
// as soon as the caller does, and locks as objects created on a
// does-not-exist condition (with the probe that checks a server has one).
import { randomUUID } from "node:crypto";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { isJsonObject } from "../../proto/json.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StoreContext,
  LOCK_ATTEMPTS,
  lockHeldError,
  lockKeptChanging,
  lockOrigin,
  matchesFilter,
  newLock,
  noLockHeld,
  throwIfAborted,
  unlockRefused,
  unreadableLock,
} from "../../proto/state-store.js";

const LOCK_FIELDS = ["lockId", "resourceId", "holder", "operation", "createdAt", "version"] as const;

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

/** A stored record; `what` names the object in errors; with `resourceId`, the record must be that resource's. */
export function parseRecord(text: string, what: string, resourceId?: string): ResourceState {
  const parsed = parseObject(text, what);
  if (typeof parsed["resourceId"] !== "string") throw corrupt(what, 'is not a state record: field "resourceId" is missing or not a string');
  if (resourceId !== undefined && parsed["resourceId"] !== resourceId) {
    throw corrupt(
      what,
      `holds the record of "${parsed["resourceId"]}", not of "${resourceId}"; nothing was changed. ` +
        `Put the record of "${resourceId}" back (from a backup), or delete the object if "${resourceId}" does not exist (the next plan then creates it)`,
    );
  }
  return parsed as unknown as ResourceState;
}

/**
 * The resource id a record object is named after: `<prefix><id>.json` with
 * the id percent-encoded (as every shipped backend names records); undefined
 * when the name is not one.
 */
export function recordIdOfName(name: string, prefix: string): string | undefined {
  if (!name.startsWith(prefix) || !name.endsWith(".json")) return undefined;
  const encoded = name.slice(prefix.length, -".json".length);
  if (encoded === "" || encoded.includes("/")) return undefined;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
}

/** The record in the object `name` (under `prefix`), which must be the record of the resource the name is for. */
export function parseNamedRecord(text: string, what: string, name: string, prefix: string): ResourceState {
  const resourceId = recordIdOfName(name, prefix);
  if (resourceId === undefined) throw corrupt(what, "is not named <percent-encoded resource id>.json, as a state record is");
  return parseRecord(text, what, resourceId);
}

/** A stored lock (its host and pids too, when recorded); anything that is not one is STATE_CORRUPT. */
export function parseLock(text: string, what: string): LockInfo {
  const parsed = parseObject(text, what);
  const field = (name: (typeof LOCK_FIELDS)[number]): string => {
    const value = parsed[name];
    if (typeof value !== "string") throw corrupt(what, `is not a lock: field "${name}" is missing or not a string`);
    return value;
  };
  return {
    lockId: field("lockId"),
    resourceId: field("resourceId"),
    holder: field("holder"),
    operation: field("operation"),
    createdAt: field("createdAt"),
    version: field("version"),
    ...lockOrigin(parsed),
  };
}

/**
 * The locks among `names` (object names `<prefix><percent-encoded id>.lock`
 * directly under `prefix`), read `limit` at a time: what a store's listLocks
 * returns. One released between the listing and its read (`read` gives
 * undefined) is skipped; one that is not a lock is listed as held with no id
 * (only a forced unlock releases it), `describe(name)` saying where.
 */
export async function readListedLocks(
  page: { names: readonly string[]; prefix: string; limit: number },
  ctx: StoreContext,
  read: (name: string) => Promise<string | undefined>,
  describe: (name: string) => string,
): Promise<LockInfo[]> {
  const named = page.names.flatMap((name) => {
    if (!name.startsWith(page.prefix) || !name.endsWith(".lock")) return [];
    const encoded = name.slice(page.prefix.length, -".lock".length);
    if (encoded === "" || encoded.includes("/")) return [];
    try {
      return [{ name, resourceId: decodeURIComponent(encoded) }];
    } catch {
      return [];
    }
  });
  const locks = await inParallel(named, page.limit, ctx, async ({ name, resourceId }) => {
    const text = await read(name);
    if (text === undefined) return undefined;
    try {
      return parseLock(text, describe(name));
    } catch (err) {
      return unreadableLock(resourceId, (err as Error).message);
    }
  });
  return locks.filter((lock): lock is LockInfo => lock !== undefined);
}

/** A stored lock, or undefined when the bytes are not (yet) one. */
export function lockOrUndefined(text: string): LockInfo | undefined {
  try {
    return parseLock(text, "lock");
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` over `items`, at most `limit` at once, results in order. After a
 * failure or the caller's cancellation it starts nothing more, waits for the
 * calls in flight, then throws the first failure.
 */
export async function inParallel<T, R>(items: readonly T[], limit: number, ctx: StoreContext, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        throwIfAborted(ctx);
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

/**
 * `call`'s result, or CANCELLED / DEADLINE_EXCEEDED as soon as the caller
 * gives up, for SDK calls that take no AbortSignal: the request itself runs
 * to its end in the background, its outcome ignored.
 */
export function abortable<T>(ctx: StoreContext, call: Promise<T>): Promise<T> {
  throwIfAborted(ctx);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      try {
        throwIfAborted(ctx);
      } catch (err) {
        reject(err);
      }
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    call.then(
      (value) => {
        ctx.signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        ctx.signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** How an object store takes a lock object, for takeLockObject. */
export interface LockObjectOps {
  /** True: the server refuses to create an object that exists (If-None-Match, ifGenerationMatch=0), so one create decides. */
  atomic: boolean;
  /** Creates the lock object only if it does not exist; false when it does. Used when `atomic`. */
  createIfAbsent(body: string): Promise<boolean>;
  /** Writes the lock object unconditionally. Used when not `atomic`. */
  write(body: string): Promise<void>;
  /** The lock held now, or undefined. */
  holder(): Promise<LockInfo | undefined>;
  /** Names the store in messages. */
  describe: string;
}

/**
 * Takes the lock on `resourceId` as a lock object, or fails at once with
 * LOCK_HELD naming the holder. Atomic stores create the object on a
 * does-not-exist condition; the others (the module accepted it) check,
 * write, and read back, which has a race window for holders starting at the
 * same instant.
 */
export async function takeLockObject(resourceId: string, request: LockRequest, ops: LockObjectOps): Promise<LockInfo> {
  const lock = newLock(resourceId, request, randomUUID());
  const body = JSON.stringify(lock);
  // A lock released between an attempt and the look at its holder is tried again, a few times.
  for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    if (ops.atomic) {
      if (await ops.createIfAbsent(body)) return lock;
      const held = await ops.holder();
      // Our own create, refused on a retry after its first answer was lost.
      if (held?.lockId === lock.lockId) return lock;
      if (held) throw lockHeldError(held);
      continue;
    }
    const held = await ops.holder();
    if (held) throw lockHeldError(held);
    await ops.write(body);
    const after = await ops.holder();
    if (after?.lockId === lock.lockId) return lock;
    if (after) throw lockHeldError(after);
  }
  throw lockKeptChanging(resourceId, ops.describe);
}

/** Whether `lockId` may release the lock `held`: NOT_FOUND when none is held, LOCK_HELD (with the lock held) when another holds it and the release is not forced. */
export function checkRelease(resourceId: string, lockId: string, held: LockInfo | undefined, force: boolean | undefined): asserts held is LockInfo {
  if (!held) throw noLockHeld(resourceId);
  if (held.lockId !== lockId && !force) throw unlockRefused(resourceId, lockId, held);
}

/** The outcome of probing whether a server refuses to create an object that exists. */
export type ConditionalCreateSupport = { supported: true } | { supported: false; why: string };

/**
 * Probes a store's conditional create: writes a probe object, then creates it
 * again on the does-not-exist condition, which must be refused. `classify`
 * reads the second write's error: supported, not supported (and why), or
 * undefined for a failure that is no answer (rethrown via `unavailable`).
 * Removes the probe either way; `cleanup` must not depend on the caller.
 */
export async function probeConditionalCreate(probe: {
  name: string;
  ctx: StoreContext;
  write(conditional: boolean): Promise<unknown>;
  cleanup(signal: AbortSignal): Promise<unknown>;
  classify(err: unknown): ConditionalCreateSupport | undefined;
  overwritten: string;
  unavailable(err: unknown, what: string): WfctlError;
}): Promise<ConditionalCreateSupport> {
  const { ctx, name } = probe;
  let result: ConditionalCreateSupport;
  try {
    try {
      await probe.write(false);
    } catch (err) {
      throwIfAborted(ctx);
      throw probe.unavailable(err, `writing the object ${name}`);
    }
    try {
      await probe.write(true);
      result = { supported: false, why: probe.overwritten };
    } catch (err) {
      throwIfAborted(ctx);
      const classified = probe.classify(err);
      if (classified === undefined) throw probe.unavailable(err, `writing the object ${name} on the does-not-exist condition`);
      result = classified;
    }
  } catch (err) {
    await probe.cleanup(AbortSignal.timeout(PROBE_CLEANUP_TIMEOUT_MS)).catch(() => {});
    throw err;
  }
  try {
    await probe.cleanup(ctx.signal);
  } catch (err) {
    throwIfAborted(ctx);
    throw probe.unavailable(err, `deleting the probe object ${name}`);
  }
  return result;
}

/** Removing a probe object must not depend on the caller still waiting. */
const PROBE_CLEANUP_TIMEOUT_MS = 10_000;

/** CONFIG_INVALID for a store without conditional creates when the module requires them (the default). */
export function conditionalWritesRequired(where: string, describe: string, why: string, feature: string): WfctlError {
  const text =
    `${where}: field "config.conditional_writes": ${describe} does not ${feature} (${why}), so state locks cannot be atomic. ` +
    "Set conditional_writes: false to accept check-then-write locking (read the lock, write it, read it back): " +
    "it has a race window in which two holders starting in the same instant can both take the lock.";
  return new WfctlError(ErrorCode.CONFIG_INVALID, text, { details: [{ message: text, field: "config.conditional_writes" }] });
}

/**
 * One listed page of an object store: the records among `names` that match
 * `filter`, read `limit` at a time. Only `<prefix><id>.json` names directly
 * under `prefix` are records, and each must hold the record of the id its
 * name encodes (`describe` names an object in errors); one deleted between
 * the listing and its read (`read` gives undefined) is skipped.
 */
export async function readListedRecords(
  page: { names: readonly string[]; prefix: string; filter: Readonly<Record<string, string>>; limit: number },
  ctx: StoreContext,
  read: (name: string) => Promise<string | undefined>,
  describe: (name: string) => string,
): Promise<ResourceState[]> {
  const names = page.names.filter((name) => name.startsWith(page.prefix) && name.endsWith(".json") && !name.slice(page.prefix.length).includes("/"));
  const records = await inParallel(names, page.limit, ctx, async (name) => {
    const text = await read(name);
    return text === undefined ? undefined : parseNamedRecord(text, describe(name), name, page.prefix);
  });
  return records.filter((record): record is ResourceState => record !== undefined && matchesFilter(record, page.filter));
}

/**
 * One call to an object store on behalf of a state call: refused at once if
 * the caller has given up; an abort becomes CANCELLED / DEADLINE_EXCEEDED;
 * `expected` turns a known outcome (not found, a failed condition) into a
 * value; anything else is STATE_BACKEND_UNAVAILABLE naming the store
 * (`describe`), what was being done, and `reason(err)`.
 */
export async function storeCall<T>(
  ctx: StoreContext,
  store: { describe: string; reason(err: unknown): string },
  what: string,
  fn: () => Promise<T>,
  expected?: (err: unknown) => T | undefined,
): Promise<T> {
  throwIfAborted(ctx);
  try {
    return await fn();
  } catch (err) {
    throwIfAborted(ctx);
    if (err instanceof WfctlError) throw err;
    const value = expected?.(err);
    if (value !== undefined) return value;
    throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `${store.describe}: ${what}: ${store.reason(err)}`, { cause: err });
  }
}
