// State backends in a few lines: an author implements the StateStore interface
// (the six calls) and the SDK serves wfctl.plugin.v1.IaCStateBackend for it.
import { randomUUID } from "node:crypto";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import type { UnaryHandlers } from "../../proto/grpc.js";
import { type JsonObject, decodeJsonObject } from "../../proto/json.js";
import {
  CORE_BACKENDS,
  type ResourceState,
  type StateStore,
  lockOrigin,
  lockToProto,
  stateFromProto,
  stateToProto,
  throwIfAborted,
} from "../../proto/state-store.js";
import type { CallRunner } from "./context.js";

/** Everything a state-backend plugin is. */
export interface StateBackendDefinition {
  /** Backend names served: the `backend:` value of an iac.state module. Never a core name. */
  backends: readonly string[];
  /** Opens the store for one configuration and namespace; called once per plugin instance. */
  open(
    request: { backend: string; config: JsonObject; workingDir: string; namespace: string },
    ctx: { signal: AbortSignal },
  ): Promise<StateStore>;
}

/** Records per ListStates page unless the host asks for another size. */
export const DEFAULT_PAGE_SIZE = 1000;

export function checkBackendNames(backends: readonly string[]): void {
  if (backends.length === 0) throw new Error("a state backend plugin must declare at least one backend name");
  const reserved = backends.filter((b) => CORE_BACKENDS.includes(b));
  if (reserved.length > 0) {
    throw new Error(`backend name(s) ${reserved.join(", ")} are reserved for wfctl's core backends (${CORE_BACKENDS.join(", ")})`);
  }
}

/** Binds a StateBackendDefinition to the IaCStateBackend gRPC handlers. */
/** How long the rest of a paged listing is kept for its next page. */
const SNAPSHOT_TTL_MS = 5 * 60_000;

export class StateBackendServer {
  private store: StateStore | undefined;
  /** The records not yet sent of listings in progress, by the token of their next page. */
  private readonly snapshots = new Map<string, { rest: ResourceState[]; expires: number }>();

  private dropExpiredSnapshots(): void {
    const now = Date.now();
    for (const [token, snapshot] of this.snapshots) if (snapshot.expires < now) this.snapshots.delete(token);
  }

  constructor(private readonly definition: StateBackendDefinition) {
    checkBackendNames(definition.backends);
  }

  private opened(): StateStore {
    if (!this.store) throw new WfctlError(ErrorCode.FAILED_PRECONDITION, "state backend is not configured: the host must call Configure first");
    return this.store;
  }

  setupHandlers(call: CallRunner): UnaryHandlers<typeof IaCStateBackendSetup> {
    return {
      configure: (request, server) =>
        call(server, async (ctx) => {
          if (!this.definition.backends.includes(request.backend)) {
            throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `this plugin serves backend(s) ${this.definition.backends.join(", ")}, not "${request.backend}"`);
          }
          // A Configure that fails leaves the plugin unconfigured, never with the store it closed.
          const previous = this.store;
          this.store = undefined;
          this.snapshots.clear();
          if (previous) await previous.close();
          this.store = await this.definition.open(
            {
              backend: request.backend,
              config: decodeJsonObject(request.configJson, "state backend config_json"),
              workingDir: request.workingDir,
              namespace: request.namespace,
            },
            { signal: ctx.signal },
          );
          return {};
        }),
    };
  }

  handlers(call: CallRunner): UnaryHandlers<typeof IaCStateBackend> {
    return {
      getState: (request, server) =>
        call(server, async (ctx) => {
          const state = await this.opened().getState(request.resourceId, ctx);
          return state ? { found: true, state: stateToProto(state) } : { found: false };
        }),
      saveState: (request, server) =>
        call(server, async (ctx) => {
          if (!request.state) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "SaveState: state is required");
          await this.opened().saveState(stateFromProto(request.state), ctx);
          return {};
        }),
      listStates: (request, server) =>
        call(server, async (ctx) => {
          const size = request.pageSize > 0 ? request.pageSize : DEFAULT_PAGE_SIZE;
          // The store is read once per listing: later pages come from a
          // snapshot taken at the first, so a listing is consistent and costs
          // one read of the store however many pages it has.
          let rest: ResourceState[];
          if (request.pageToken) {
            const snapshot = this.snapshots.get(request.pageToken);
            this.snapshots.delete(request.pageToken);
            if (!snapshot || snapshot.expires < Date.now()) {
              throw new WfctlError(ErrorCode.FAILED_PRECONDITION, "ListStates: the page token is unknown or expired (a listing must be paged through within 5 minutes); list again");
            }
            // A later page does not touch the store, but a listing whose caller gave up stops here too.
            throwIfAborted(ctx);
            rest = snapshot.rest;
          } else {
            rest = await this.opened().listStates(request.filter, ctx);
            rest.sort((a, b) => (a.resourceId < b.resourceId ? -1 : a.resourceId > b.resourceId ? 1 : 0));
          }
          this.dropExpiredSnapshots();
          const page = rest.slice(0, size);
          let nextPageToken = "";
          if (rest.length > size) {
            nextPageToken = randomUUID();
            this.snapshots.set(nextPageToken, { rest: rest.slice(size), expires: Date.now() + SNAPSHOT_TTL_MS });
          }
          return { states: page.map(stateToProto), nextPageToken };
        }),
      deleteState: (request, server) =>
        call(server, async (ctx) => {
          await this.opened().deleteState(request.resourceId, ctx);
          return {};
        }),
      lock: (request, server) =>
        call(server, async (ctx) => {
          const info = request.info;
          const lock = await this.opened().lock(
            request.resourceId,
            { holder: info?.holder ?? "", operation: info?.operation ?? "", version: info?.version ?? "", ...(info ? lockOrigin(info) : {}) },
            ctx,
          );
          return { lock: lockToProto(lock) };
        }),
      unlock: (request, server) =>
        call(server, async (ctx) => {
          await this.opened().unlock(request.resourceId, request.lockId, ctx, { force: request.force });
          return {};
        }),
      listLocks: (_request, server) =>
        call(server, async (ctx) => {
          const store = this.opened();
          if (!store.listLocks) throw new WfctlError(ErrorCode.UNSUPPORTED, "ListLocks: this backend does not list its locks (the host probes with Lock)");
          return { locks: (await store.listLocks(ctx)).map(lockToProto) };
        }),
    };
  }

  async close(): Promise<void> {
    await this.store?.close();
  }
}
