// What every engine operation carries: who asked, for which environment, its
// cancellation and deadline; and how those become plugin call options.
import type { Logger } from "pino";
import type { CallOptions } from "../../proto/grpc.js";
import type { WfctlError } from "../../proto/errors.js";
import type { StoreContext } from "../../proto/state-store.js";
import { type Context, injectTrace } from "../../proto/telemetry.js";
import type { PlanEvent, ResourceEvent } from "./events.js";
import type { Caller } from "./request.js";

export interface OperationContext {
  /** Unique per operation; sent to plugins as `wfctl-operation-id`. */
  operationId: string;
  /** plan, apply, destroy, ... */
  operation: string;
  /** Aborted when the caller cancels (Ctrl-C: the Cancel call) or the deadline passes. */
  signal: AbortSignal;
  /** The caller's deadline, if it set one. */
  deadline: Date | undefined;
  caller: Caller;
  /**
   * The wfctl command's environment (Target.environment): every variable the
   * operation reads on the caller's behalf (`*_env` fields, plugins'
   * reads_env) comes from here, never from the daemon's own environment.
   * Values are secrets: never logged, traced or echoed.
   */
  environment: Readonly<Record<string, string>>;
  /** The operation's trace context: plugin calls carry it as `traceparent`. */
  trace: Context;
  log: Logger;
  /** Tells watching clients what happens to a resource, and what an operation that changes things is about to do. */
  emit(event: ResourceEvent | PlanEvent): void;
  /** Records what stopped an operation that reports instead of throwing, for its summary event. */
  stopped(error: WfctlError | undefined): void;
}

/** Default time limits for plugin calls when the caller's deadline is further away. */
export const CALL_TIMEOUTS = {
  /** Configure, schema, plan, read. */
  quick: 60_000,
  /** Create, update, delete: cloud operations can be slow. */
  apply: 30 * 60_000,
} as const;

/**
 * How long a change in flight may still answer after its operation was
 * cancelled or ran out of time: its answer is how state learns what exists.
 */
export const CHANGE_GRACE_MS = 20_000;

/**
 * Options for a create, update or delete call: cancellation tells the plugin
 * to stop (`notify`) but keeps waiting up to CHANGE_GRACE_MS for its answer,
 * and the call's own deadline is that much past the operation's.
 */
export function changeCallOptions(ctx: OperationContext, env: string, notify: (reason: unknown) => void): CallOptions {
  const options = callOptions(ctx, env, CALL_TIMEOUTS.apply);
  const deadline = new Date((options.deadline?.getTime() ?? Date.now() + CALL_TIMEOUTS.apply) + CHANGE_GRACE_MS);
  return { ...options, deadline, onAbort: { graceMs: CHANGE_GRACE_MS, notify } };
}

/** Options for one plugin call: the operation's signal, the nearer of its deadline and `timeoutMs`, metadata. */
export function callOptions(ctx: OperationContext, env: string, timeoutMs: number): CallOptions {
  const own = Date.now() + timeoutMs;
  const deadline = ctx.deadline && ctx.deadline.getTime() < own ? ctx.deadline : new Date(own);
  return { signal: ctx.signal, deadline, metadata: operationMetadata(ctx, env) };
}

/** What every plugin call of an operation carries, provider and state backend alike: its id, name, environment, caller and trace. */
export function operationMetadata(ctx: OperationContext, env: string): Record<string, string> {
  return injectTrace(ctx.trace, {
    "wfctl-operation-id": ctx.operationId,
    "wfctl-operation": ctx.operation,
    "wfctl-environment": env,
    "wfctl-caller": ctx.caller.user,
  });
}

/**
 * A state store call on the operation's behalf: its cancellation and
 * deadline (the store adds its own bound when there is none). The store
 * was opened with the operation's metadata (openTarget).
 */
export function storeContext(ctx: Pick<OperationContext, "signal" | "deadline">): StoreContext {
  return { signal: ctx.signal, deadline: ctx.deadline };
}
