// A state store served by a plugin: the StateStore interface over the
// IaCStateBackend gRPC contract. Every call carries the caller's cancellation
// and deadline; listing pages through the backend and aborts on cancellation.
// The daemon opens plugin state backends with it; the conformance kits check
// a state-backend plugin through it, as the daemon will use it.
import { IaCStateBackend } from "./gen/wfctl/plugin/v1/state_pb.js";
import type { CallOptions, UnaryClient } from "./grpc.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  lockFromProto,
  stateFromProto,
  stateToProto,
  throwIfAborted,
} from "./state-store.js";
import { ErrorCode, WfctlError } from "./errors.js";

/** The longest a call may take: the deadline when the caller sets none or a later one (a backend call never hangs forever). */
export const STATE_CALL_TIMEOUT_MS = 60_000;

export class PluginStateStore implements StateStore {
  constructor(
    private readonly client: () => UnaryClient<typeof IaCStateBackend>,
    /** Sent with every call: the metadata of the operation the store was opened for (operation id, traceparent…). */
    private readonly metadata: Readonly<Record<string, string>> = {},
  ) {}

  /** The caller's cancellation, the nearer of its deadline and STATE_CALL_TIMEOUT_MS, the store's metadata and the call's. */
  private options(ctx: StoreContext): CallOptions {
    const bound = Date.now() + STATE_CALL_TIMEOUT_MS;
    const deadline = ctx.deadline && ctx.deadline.getTime() < bound ? ctx.deadline : new Date(bound);
    return { signal: ctx.signal, deadline, metadata: { ...this.metadata, ...ctx.metadata } };
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    const response = await this.client().getState({ resourceId }, this.options(ctx));
    return response.found && response.state ? stateFromProto(response.state) : undefined;
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    await this.client().saveState({ state: stateToProto(state) }, this.options(ctx));
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    const out: ResourceState[] = [];
    let pageToken = "";
    do {
      throwIfAborted(ctx);
      const page = await this.client().listStates({ filter: { ...filter }, pageToken }, this.options(ctx));
      out.push(...page.states.map(stateFromProto));
      if (page.nextPageToken !== "" && page.nextPageToken === pageToken) {
        throw new WfctlError(ErrorCode.INTERNAL, "state backend returned the same page token twice");
      }
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return out;
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    await this.client().deleteState({ resourceId }, this.options(ctx));
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    const response = await this.client().lock({ resourceId, info: { ...request } }, this.options(ctx));
    if (!response.lock) throw new WfctlError(ErrorCode.INTERNAL, "state backend granted a lock without lock info");
    return lockFromProto(response.lock);
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    await this.client().unlock({ resourceId, lockId, force: options?.force ?? false }, this.options(ctx));
  }

  /**
   * Every lock the plugin holds in its namespace. A plugin that does not
   * serve ListLocks answers UNIMPLEMENTED, which arrives as UNSUPPORTED: the
   * caller then probes with lock (daemon/engine/state-locks.ts).
   */
  async listLocks(ctx: StoreContext): Promise<LockInfo[]> {
    const response = await this.client().listLocks({}, this.options(ctx));
    return response.locks.map(lockFromProto);
  }

  /** The plugin process belongs to whoever started it (the supervisor keeps it warm); nothing to close here. */
  async close(): Promise<void> {}
}
