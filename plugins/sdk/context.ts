// What plugin code receives with every call.
import type { ServerCallContext } from "../../proto/grpc.js";
import { type Context, ROOT_CONTEXT, TRACEPARENT, injectTrace } from "../../proto/telemetry.js";
import type { PluginLogger } from "./logger.js";

/** Per-call context: pass `signal` on to every SDK or network call you make. */
export interface CallContext {
  /** Aborted when the host cancels the call or its deadline passes. */
  signal: AbortSignal;
  /** The host's deadline for this call, if any. */
  deadline: Date | undefined;
  /** Request metadata from the host (operation id, environment, caller, traceparent). */
  metadata: Readonly<Record<string, string>>;
  /** The operation this call belongs to, its environment and who started it (from the metadata). */
  operation: { id: string; name: string; environment: string; caller: string };
  /** W3C traceparent of this call's span ("" when not tracing): pass it on to the APIs you call. */
  traceparent: string;
  /** The OpenTelemetry context of this call's span, for spans of your own. */
  trace: Context;
  /** Logger for this call; lines go to the host's plugin log. */
  log: PluginLogger;
}

export function callContext(server: ServerCallContext, log: PluginLogger, trace: Context = ROOT_CONTEXT): CallContext {
  const md = server.metadata;
  const fields: Record<string, string> = { method: server.method };
  if (md["wfctl-operation-id"]) fields["operation"] = md["wfctl-operation-id"];
  return {
    signal: server.signal,
    deadline: server.deadline,
    metadata: md,
    operation: {
      id: md["wfctl-operation-id"] ?? "",
      name: md["wfctl-operation"] ?? "",
      environment: md["wfctl-environment"] ?? "",
      caller: md["wfctl-caller"] ?? "",
    },
    traceparent: injectTrace(trace)[TRACEPARENT] ?? "",
    trace,
    log: log.child(fields),
  };
}

/** Runs plugin code for one call with its CallContext (the SDK adds logging around it). */
export type CallRunner = <T>(server: ServerCallContext, fn: (ctx: CallContext) => Promise<T>) => Promise<T>;
