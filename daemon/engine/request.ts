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
  /**
   * The client's environment variables the operation may read (what
   * EnvironmentNames listed): every variable is resolved from here, never
   * from the daemon's own environment. Values are secrets: never logged,
   * traced or echoed. Absent: none.
   */
  environment?: Readonly<Record<string, string>>;
  /** --var name=value, as typed. Absent: none. */
  variables?: Readonly<Record<string, string>>;
  /** --var-file paths, absolute, later ones winning. Absent: none. */
  variableFiles?: readonly string[];
}

/**
 * What the daemon itself knows of the process that sent a request, beside
 * what that process claims (Caller.user, Caller.pid). See daemon/server/peer.ts.
 */
export interface Peer {
  /** The peer's uid, when known. */
  uid?: number;
  /** Its login name, when /etc/passwd has one. */
  user?: string;
  /** The peer's pid, when known. */
  pid?: number;
  /**
   * How it was learned: "so_peercred" (the kernel's credentials of the
   * connecting process), "ss" (iproute2's view of the socket's peer),
   * "socket-owner" (only the socket's owner or root can connect: uid is the
   * owner's, no pid), "in-process" (--no-daemon: the client is this process).
   */
  basis: "so_peercred" | "ss" | "socket-owner" | "in-process";
}

/** Who started an operation (recorded in locks, audit lines, plugin metadata). */
export interface Caller {
  /** user@host, as the client claims. */
  user: string;
  /** The client's pid, as it claims. */
  pid: number;
  command: string;
  /**
   * Establishes what the daemon knows of the client (once per connection,
   * when an audit line is about to be written); rejects with
   * PERMISSION_DENIED when the platform says the client is another user
   * (daemon/server/peer.ts). Absent for callers with no connection (tests).
   */
  peer?: () => Promise<Peer>;
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
