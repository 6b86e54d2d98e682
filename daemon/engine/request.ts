// What a caller asks of the engine: which configuration and environment, who
// is asking, and the operation's budget. Plain types, imported by every part
// of the engine (and nothing here imports them back).
import type { Context } from "../../proto/telemetry.js";

/** Which configuration and environment an operation is about. */
export interface Target {
  /** Absolute path of infra.yaml. */
  configPath: string;
  /** Environment name; "" for none. */
  env: string;
}

/** Who started an operation (recorded in locks, audit lines, plugin metadata). */
export interface Caller {
  /** user@host */
  user: string;
  pid: number;
  command: string;
}

/** What a caller passes to every engine operation. */
export interface OperationRequest {
  target: Target;
  caller: Caller;
  /**
   * The caller's own cancellation, for callers whose going away should stop
   * the operation (tests, embedders); the socket API passes none, since a
   * client that disconnects does not stop its operation.
   */
  signal?: AbortSignal;
  /** When the operation must stop; it is then cancelled like a Ctrl-C, and still reports. */
  deadline: Date | undefined;
  /** Chosen by the client so it can Cancel; one is made up when empty. */
  operationId?: string;
  /** The trace this operation belongs to (its plugin calls join it). */
  trace?: Context;
}
