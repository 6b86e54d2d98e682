// What plugin code receives with every call.
import type { ServerCallContext } from "../../proto/grpc.js";
import type { PluginLogger } from "./logger.js";

/** Per-call context: pass `signal` on to every SDK or network call you make. */
export interface CallContext {
  /** Aborted when the host cancels the call or its deadline passes. */
  signal: AbortSignal;
  /** The host's deadline for this call, if any. */
  deadline: Date | undefined;
  /** Request metadata from the host (operation id, environment, caller, traceparent). */
  metadata: Readonly<Record<string, string>>;
  /** Logger for this call; lines go to the host's plugin log. */
  log: PluginLogger;
}

export function callContext(server: ServerCallContext, log: PluginLogger): CallContext {
  const fields: Record<string, string> = { method: server.method };
  const operation = server.metadata["wfctl-operation-id"];
  if (operation) fields["operation"] = operation;
  return { signal: server.signal, deadline: server.deadline, metadata: server.metadata, log: log.child(fields) };
}

/** Runs plugin code for one call with its CallContext (the SDK adds logging around it). */
export type CallRunner = <T>(server: ServerCallContext, fn: (ctx: CallContext) => Promise<T>) => Promise<T>;
