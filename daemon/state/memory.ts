// The memory backend: state that lives as long as the process holding it (the
// daemon keeps one per configuration and namespace). For tests and throwaway
// experiments; nothing is written anywhere.
import { randomUUID } from "node:crypto";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
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

export class MemoryStateStore implements StateStore {
  private readonly states = new Map<string, ResourceState>();
  private readonly locks = new Map<string, LockInfo>();

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    throwIfAborted(ctx);
    const state = this.states.get(resourceId);
    return state ? structuredClone(state) : undefined;
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    this.states.set(state.resourceId, structuredClone(state));
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    throwIfAborted(ctx);
    return [...this.states.values()].filter((s) => matchesFilter(s, filter)).map((s) => structuredClone(s));
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    this.states.delete(resourceId);
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const held = this.locks.get(resourceId);
    if (held) throw lockHeldError(held);
    const lock: LockInfo = { ...request, lockId: randomUUID(), resourceId, createdAt: new Date().toISOString() };
    this.locks.set(resourceId, lock);
    return { ...lock };
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    throwIfAborted(ctx);
    const held = this.locks.get(resourceId);
    if (!held) throw new WfctlError(ErrorCode.NOT_FOUND, `no lock is held on "${resourceId}"`);
    if (held.lockId !== lockId && !options?.force) {
      throw new WfctlError(ErrorCode.LOCK_HELD, `cannot unlock "${resourceId}" as ${lockId}: it is held by ${held.holder} as ${held.lockId}`);
    }
    this.locks.delete(resourceId);
  }

  /** Nothing to release; the records stay for the next operation. */
  async close(): Promise<void> {}
}
