// State backends in a few lines: an author implements the StateStore interface
// (the six calls) and the SDK serves wfctl.plugin.v1.IaCStateBackend for it.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import type { UnaryHandlers } from "../../proto/grpc.js";
import { type JsonObject, decodeJsonObject } from "../../proto/json.js";
import {
  CORE_BACKENDS,
  type StateStore,
  lockToProto,
  stateFromProto,
  stateToProto,
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
export class StateBackendServer {
  private store: StateStore | undefined;

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
          if (this.store) await this.store.close();
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
          const all = await this.opened().listStates(request.filter, ctx);
          all.sort((a, b) => (a.resourceId < b.resourceId ? -1 : a.resourceId > b.resourceId ? 1 : 0));
          const after = request.pageToken;
          const rest = after ? all.filter((s) => s.resourceId > after) : all;
          const size = request.pageSize > 0 ? request.pageSize : DEFAULT_PAGE_SIZE;
          const page = rest.slice(0, size);
          const last = page[page.length - 1];
          return {
            states: page.map(stateToProto),
            nextPageToken: rest.length > size && last ? last.resourceId : "",
          };
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
            { holder: info?.holder ?? "", operation: info?.operation ?? "", version: info?.version ?? "" },
            ctx,
          );
          return { lock: lockToProto(lock) };
        }),
      unlock: (request, server) =>
        call(server, async (ctx) => {
          await this.opened().unlock(request.resourceId, request.lockId, ctx, { force: request.force });
          return {};
        }),
    };
  }

  async close(): Promise<void> {
    await this.store?.close();
  }
}
