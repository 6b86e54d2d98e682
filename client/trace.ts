// The trace of one wfctl command: its root span's context, sent to the daemon
// as `traceparent` on every call, so the daemon's and the plugins' spans join
// the same trace. Nothing is sent when tracing is off.
import type { Interceptor } from "@connectrpc/connect";
import { type Context, ROOT_CONTEXT, injectTrace } from "../proto/telemetry.js";

let commandContext: Context = ROOT_CONTEXT;

export function setCommandContext(ctx: Context): void {
  commandContext = ctx;
}

/** Adds this command's `traceparent` to every request. */
export const sendTrace: Interceptor = (next) => (req) => {
  for (const [key, value] of Object.entries(injectTrace(commandContext))) req.header.set(key, value);
  return next(req);
};
