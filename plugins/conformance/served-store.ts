// A state store served by a plugin, as the state-backend kit checks it: the
// daemon's own client for plugin backends (PluginStateStore), plus what the
// kit needs to reach the plugin's own handling of cancellation, deadlines
// and paging (see given-up.ts): the plugin's PluginController, and ListStates
// one page at a time. startPlugin's stateStore() gives one; a test that
// starts the plugin another way makes one with servedStateStore().
import type { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import type { IaCStateBackend, ListStatesResponse } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import type { UnaryClient } from "../../proto/grpc.js";
import { PluginStateStore, STATE_CALL_TIMEOUT_MS } from "../../proto/plugin-state-store.js";
import type { StoreContext } from "../../proto/state-store.js";
import { type GiveUp, cancelInPlugin } from "./given-up.js";

export class ServedStateStore extends PluginStateStore {
  constructor(
    private readonly backend: () => UnaryClient<typeof IaCStateBackend>,
    private readonly controller: () => UnaryClient<typeof PluginController>,
    private readonly stopPlugin?: () => Promise<void>,
  ) {
    super(backend);
  }

  /** Closes the store; a store that owns its plugin process (one process per store, as wfctld runs them) stops it. */
  override async close(): Promise<void> {
    if (this.stopPlugin) await this.stopPlugin();
    else await super.close();
  }

  /** Tells the plugin that operation `operationId` was cancelled or ran out of time (PluginController.CancelOperation). */
  cancelOperation(operationId: string, why: GiveUp): Promise<void> {
    return cancelInPlugin(this.controller(), operationId, why);
  }

  /** One ListStates call as sent: `pageSize` records at most, from `pageToken` ("" for the first page). */
  listPage(filter: Readonly<Record<string, string>>, page: { token: string; size: number }, ctx: StoreContext): Promise<ListStatesResponse> {
    return this.backend().listStates(
      { filter: { ...filter }, pageToken: page.token, pageSize: page.size },
      { signal: ctx.signal, deadline: ctx.deadline ?? new Date(Date.now() + STATE_CALL_TIMEOUT_MS), metadata: { ...ctx.metadata } },
    );
  }
}

/**
 * The store a plugin serves, for describeStateBackendConformance, from
 * clients of its IaCStateBackend and PluginController services (each
 * function is called per call, so a restarted plugin is reached anew), and
 * `close`, when closing the store is to stop its plugin process.
 */
export function servedStateStore(clients: {
  backend: () => UnaryClient<typeof IaCStateBackend>;
  controller: () => UnaryClient<typeof PluginController>;
  close?: () => Promise<void>;
}): ServedStateStore {
  return new ServedStateStore(clients.backend, clients.controller, clients.close);
}
