// The memory backend: state that lives as long as the process holding it (the
// daemon keeps one per configuration and namespace). For tests and throwaway
// experiments; nothing is written anywhere.
import { randomUUID } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { IaCStateSchema } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  lockHeldError,
  matchesFilter,
  newLock,
  noLockHeld,
  stateFromProto,
  stateToProto,
  throwIfAborted,
  unlockRefused,
} from "../../proto/state-store.js";

/**
 * A record kept as its encoded IaCState: nothing a caller does to what it
 * saved or read can reach the stored copy, and a record that only passes
 * through (read, then saved without reading its outputs or config) is never
 * parsed or re-encoded.
 */
interface Kept {
  encoded: Uint8Array;
  /** For filtering without decoding. */
  resourceType: string;
  provider: string;
  status: string;
}

export class MemoryStateStore implements StateStore {
  private readonly states = new Map<string, Kept>();
  private readonly locks = new Map<string, LockInfo>();

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    throwIfAborted(ctx);
    const kept = this.states.get(resourceId);
    return kept ? stateFromProto(fromBinary(IaCStateSchema, kept.encoded)) : undefined;
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    const { resourceType, provider, status } = state;
    this.states.set(state.resourceId, { encoded: toBinary(IaCStateSchema, stateToProto(state)), resourceType, provider, status });
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    throwIfAborted(ctx);
    return [...this.states.values()].filter((kept) => matchesFilter(kept, filter)).map((kept) => stateFromProto(fromBinary(IaCStateSchema, kept.encoded)));
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    this.states.delete(resourceId);
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const held = this.locks.get(resourceId);
    if (held) throw lockHeldError(held);
    const lock = newLock(resourceId, request, randomUUID());
    this.locks.set(resourceId, lock);
    return { ...lock };
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    throwIfAborted(ctx);
    const held = this.locks.get(resourceId);
    if (!held) throw noLockHeld(resourceId);
    if (held.lockId !== lockId && !options?.force) throw unlockRefused(resourceId, lockId, held);
    this.locks.delete(resourceId);
  }

  async listLocks(ctx: StoreContext): Promise<LockInfo[]> {
    throwIfAborted(ctx);
    return [...this.locks.values()].map((lock) => ({ ...lock })).sort((a, b) => (a.resourceId < b.resourceId ? -1 : a.resourceId > b.resourceId ? 1 : 0));
  }

  /** Nothing to release; the records stay for the next operation. */
  async close(): Promise<void> {}
}
