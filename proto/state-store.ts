// The state store: the six calls every state backend implements, in-process
// (memory, filesystem, postgres) or behind the IaCStateBackend gRPC contract.
// The engine only ever talks to this interface.
import { create } from "@bufbuild/protobuf";
import { type PriorState, PriorStateSchema } from "./gen/wfctl/plugin/v1/provider_pb.js";
import { type IaCState, IaCStateSchema } from "./gen/wfctl/plugin/v1/state_pb.js";
import { ErrorCode, WfctlError } from "./errors.js";
import { type JsonObject, decodeJsonObject, encodeJson } from "./json.js";
import type { LockInfo, LockRequest } from "./lock-info.js";

export { type LockInfo, type LockRequest, lockFromProto, lockOrigin, lockToProto, newLock, unreadableLock } from "./lock-info.js";

/** One resource's record. */
export interface ResourceState {
  /** Environment-resolved resource name; unique within a namespace. */
  resourceId: string;
  resourceType: string;
  /** The iac.provider module that manages it. */
  provider: string;
  status: string;
  outputs: JsonObject;
  /** The configuration last applied. */
  config: JsonObject;
  createdAt: string;
  updatedAt: string;
  error: string;
  providerId: string;
  protected: boolean;
  dependsOn: string[];
}

/**
 * What a record says about its resource. `active`: it exists as recorded.
 * `error`: it exists as recorded, but its last update failed. `pending`: a
 * create, update or delete was started and its end was never recorded (the host died
 * mid-call). `unknown`: a change ended without the host learning whether it
 * was made (the plugin died, or did not answer in time). The next plan reads
 * a pending or unknown resource before deciding anything about it.
 */
export const RecordStatus = {
  ACTIVE: "active",
  ERROR: "error",
  PENDING: "pending",
  UNKNOWN: "unknown",
} as const;

/** A record whose resource may or may not exist: the next plan reads it first. */
export function isUnconfirmed(record: Pick<ResourceState, "status">): boolean {
  return record.status === RecordStatus.PENDING || record.status === RecordStatus.UNKNOWN;
}

/**
 * Every store call takes the caller's cancellation, and may say when it
 * gives up. A store in this process needs only `signal` (it aborts at the
 * deadline too); a store across a process boundary (a plugin) sends
 * `deadline` as the call's own deadline and `metadata` with the call.
 */
export interface StoreContext {
  signal: AbortSignal;
  /** When `signal` aborts by itself (the operation's deadline, a write's own limit); absent: the store's own bound applies. */
  deadline?: Date | undefined;
  /** Sent with the call by a store that crosses a process boundary (operation id, traceparent…); ignored in process. */
  metadata?: Readonly<Record<string, string>> | undefined;
}

/** A context that gives up after `ms` of its own, whatever the operation does (writes that record what happened). */
export function storeTimeout(ms: number, metadata?: Readonly<Record<string, string>>): StoreContext {
  return { signal: AbortSignal.timeout(ms), deadline: new Date(Date.now() + ms), ...(metadata ? { metadata } : {}) };
}

/** Keys a ListStates filter may use. */
export const FILTER_KEYS = ["resource_type", "provider", "status"] as const;

export interface StateStore {
  /** The record, or undefined when there is none. */
  getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined>;
  /** Inserts or fully replaces a record. Safe to retry. */
  saveState(state: ResourceState, ctx: StoreContext): Promise<void>;
  /** Records matching every filter entry; aborts (never returns partial results) on cancellation. */
  listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]>;
  /** Removes a record; a missing record is not an error. */
  deleteState(resourceId: string, ctx: StoreContext): Promise<void>;
  /** Takes the lock or fails at once with LOCK_HELD naming the holder. */
  lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo>;
  /** Releases the lock taken as `lockId`; `force` releases whoever holds it. */
  unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void>;
  /** Every lock held, with its holder; optional (without it, callers probe with lock). */
  listLocks?(ctx: StoreContext): Promise<LockInfo[]>;
  /** Releases connections and files. */
  close(): Promise<void>;
}

/** Rejects filter keys no backend understands, so a typo is not "no match". */
export function checkFilter(filter: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(filter)) {
    if (!(FILTER_KEYS as readonly string[]).includes(key)) {
      throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `unknown state filter key "${key}" (known: ${FILTER_KEYS.join(", ")})`);
    }
  }
}

export function matchesFilter(state: Pick<ResourceState, "resourceType" | "provider" | "status">, filter: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(filter)) {
    const actual = key === "resource_type" ? state.resourceType : key === "provider" ? state.provider : key === "status" ? state.status : undefined;
    if (actual !== value) return false;
  }
  return true;
}

/** Throws CANCELLED / DEADLINE_EXCEEDED if the caller gave up. */
export function throwIfAborted(ctx: StoreContext): void {
  if (!ctx.signal.aborted) return;
  const reason: unknown = ctx.signal.reason;
  if (reason instanceof WfctlError) throw reason;
  const timeout = reason instanceof Error && reason.name === "TimeoutError";
  throw new WfctlError(timeout ? ErrorCode.DEADLINE_EXCEEDED : ErrorCode.CANCELLED, timeout ? "deadline exceeded" : "cancelled", { cause: reason });
}

/** What a provider is told a resource was, from its record: id, configuration and outputs. */
export function priorStateOf(record: ResourceState): PriorState {
  return create(PriorStateSchema, { providerId: record.providerId, configJson: encodeJson(record.config), outputsJson: encodeJson(record.outputs) });
}

export function stateToProto(state: ResourceState): IaCState {
  return create(IaCStateSchema, {
    resourceId: state.resourceId,
    resourceType: state.resourceType,
    provider: state.provider,
    status: state.status,
    outputsJson: stillEncoded(state, "outputs") ?? encodeJson(state.outputs),
    configJson: stillEncoded(state, "config") ?? encodeJson(state.config),
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    error: state.error,
    providerId: state.providerId,
    protected: state.protected,
    dependsOn: state.dependsOn,
  });
}

/**
 * The record in a message. Its outputs and config stay encoded until
 * something reads them, and a record saved without reading them passes its
 * bytes on as they came (stateToProto), so a store, the daemon or a plugin
 * that only moves a record never parses or re-encodes its JSON. A field
 * holding bad JSON fails when it is first read, naming the record and field.
 */
export function stateFromProto(message: IaCState): ResourceState {
  const state = {
    resourceId: message.resourceId,
    resourceType: message.resourceType,
    provider: message.provider,
    status: message.status,
    createdAt: message.createdAt,
    updatedAt: message.updatedAt,
    error: message.error,
    providerId: message.providerId,
    protected: message.protected,
    dependsOn: [...message.dependsOn],
  };
  defineEncoded(state, "outputs", message.outputsJson, `state ${message.resourceId}: outputs_json`);
  defineEncoded(state, "config", message.configJson, `state ${message.resourceId}: config_json`);
  return state as ResourceState;
}

/**
 * A copy of a record with some fields changed that keeps its outputs and
 * config encoded if they still are. Use it instead of `{ ...record, … }`
 * (a spread reads, and so decodes, every field) where only metadata changes.
 */
export function withFields(state: ResourceState, changes: Partial<ResourceState>): ResourceState {
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(state)) as ResourceState;
  return Object.assign(copy, changes);
}

/**
 * The record as one JSON object (the form the object-store and PostgreSQL
 * backends keep), with outputs and config spliced in as the bytes they
 * arrived as when nothing has read them: same result as JSON.stringify.
 */
export function recordJson(state: ResourceState): string {
  const spliced = new Map<string, Uint8Array>();
  const shallow: Record<string, unknown> = {};
  for (const key of Object.keys(state) as (keyof ResourceState)[]) {
    const bytes = key === "outputs" || key === "config" ? stillEncoded(state, key) : undefined;
    if (bytes && bytes.byteLength > 0) {
      const token = `\u0000wfctl-encoded-${key}\u0000`;
      // Searched for with its key: unescaped quotes occur only around keys and values of the record itself.
      spliced.set(`${JSON.stringify(key)}:${JSON.stringify(token)}`, bytes);
      shallow[key] = token;
    } else {
      shallow[key] = state[key];
    }
  }
  let text = JSON.stringify(shallow);
  for (const [token, bytes] of spliced) {
    const at = text.indexOf(token);
    const [key] = token.split(":", 1);
    text = `${text.slice(0, at)}${key}:${textDecoder.decode(bytes)}${text.slice(at + token.length)}`;
  }
  return text;
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });

type EncodedField = "outputs" | "config";

/** One encoded JSON field of a record and, once read, its value. */
class EncodedJson {
  value: JsonObject | undefined;
  constructor(
    readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}
  read(): JsonObject {
    this.value ??= decodeJsonObject(this.bytes, this.what);
    return this.value;
  }
}

/** The getters defineEncoded made, each with its field: how stateToProto knows a field is untouched. */
const encodedFields = new WeakMap<() => JsonObject, EncodedJson>();

function defineEncoded(state: object, key: EncodedField, bytes: Uint8Array, what: string): void {
  const field = new EncodedJson(bytes, what);
  const get = (): JsonObject => field.read();
  encodedFields.set(get, field);
  Object.defineProperty(state, key, {
    enumerable: true,
    configurable: true,
    get,
    // Assigning replaces the lazy field with a plain one on this record only.
    set(this: object, value: JsonObject) {
      Object.defineProperty(this, key, { value, writable: true, enumerable: true, configurable: true });
    },
  });
}

/** The field's bytes as they arrived, if nothing has read (and so perhaps changed) it since. */
function stillEncoded(state: ResourceState, key: EncodedField): Uint8Array | undefined {
  const get = Object.getOwnPropertyDescriptor(state, key)?.get as (() => JsonObject) | undefined;
  const field = get ? encodedFields.get(get) : undefined;
  return field && field.value === undefined ? field.bytes : undefined;
}

/** For people: who holds `lock`, for what, since when, and its id (or that its record cannot be read). */
export function describeLock(lock: LockInfo): string {
  if (lock.lockId === "") return `state lock "${lock.resourceId}" is held by ${lock.holder || "an unknown holder"}; it has no lock id (its record cannot be read)`;
  return `state lock "${lock.resourceId}" is held by ${lock.holder} for "${lock.operation}" since ${lock.createdAt} (lock id ${lock.lockId}, wfctl ${lock.version})`;
}

/**
 * The LOCK_HELD error every backend raises: the lock held travels as data
 * (`lock`, ErrorDetails.lock on the wire); the message says the same to
 * people, in any words (`message` replaces describeLock's).
 */
export function lockHeldError(held: LockInfo, message?: string, details?: WfctlError["details"]): WfctlError {
  return new WfctlError(ErrorCode.LOCK_HELD, message ?? describeLock(held), { lock: { ...held }, ...(details ? { details } : {}) });
}

/** Unlock with an id that is not the one held: LOCK_HELD with the lock held now. */
export function unlockRefused(resourceId: string, lockId: string, held: LockInfo): WfctlError {
  const heldAs = held.lockId === "" ? "a lock whose record cannot be read (only a forced unlock releases it)" : `${held.holder} as ${held.lockId}`;
  return lockHeldError(held, `cannot unlock "${resourceId}" as ${lockId}: it is held by ${heldAs}`);
}

/** How many times a store tries to take a lock that is released between its attempt and its look at the holder. */
export const LOCK_ATTEMPTS = 5;

/**
 * A lock taken and released by others under every one of LOCK_ATTEMPTS
 * attempts: no holder to name, so not LOCK_HELD (which always carries its
 * lock) but a store that cannot settle now; retrying may help.
 */
export function lockKeptChanging(resourceId: string, where: string): WfctlError {
  return new WfctlError(
    ErrorCode.STATE_BACKEND_UNAVAILABLE,
    `the lock on "${resourceId}" (${where}) was taken and released by others under each of ${LOCK_ATTEMPTS} attempts to take it; try again`,
  );
}

/** Unlock (forced or not) when no lock is held: NOT_FOUND, the one answer every store gives. */
export function noLockHeld(resourceId: string, where?: string): WfctlError {
  return new WfctlError(ErrorCode.NOT_FOUND, `no lock is held on "${resourceId}"${where ? ` (${where})` : ""}`);
}

/** Backend names the daemon serves in-process; no plugin may claim one. */
export const CORE_BACKENDS: readonly string[] = ["memory", "filesystem", "postgres"];
