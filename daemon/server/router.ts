// The socket API's routes and interceptors, shared by the daemon and the
// in-process (--no-daemon) transport: version check, activity tracking, and
// one place where every error becomes a Connect/gRPC status with its code.
import { type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { SpanKind, extractTrace, inSpan, meter } from "../../proto/telemetry.js";
import { toConnectError } from "../../proto/connect-errors.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { CLIENT_BUILD_HEADER, CLIENT_VERSION_HEADER, WFCTL_BUILD, WFCTL_VERSION } from "../../proto/versions.js";
import type { Engine } from "../engine/engine.js";
import type { DaemonLogger } from "../log.js";
import { type ApiHost, daemonService, traceKey } from "./api.js";
import { boundedService } from "./limits.js";

/** Methods any client version may call, so a mismatched client can still inspect or stop the daemon. */
const VERSION_FREE = new Set(["Status", "Shutdown"]);

/** Counts operations in flight and remembers when the last one ended (for idle shutdown). */
export class ActivityTracker {
  active = 0;
  lastActivity = Date.now();

  readonly interceptor: Interceptor = (next) => async (req) => {
    this.active++;
    this.lastActivity = Date.now();
    try {
      return await next(req);
    } finally {
      this.active--;
      this.lastActivity = Date.now();
    }
  };
}

const RESTART_ADVICE = "Stop the old daemon with `wfctl daemon stop`; the next command starts a matching one.";

/**
 * Refuses clients of another version, or of another build of the same
 * version (when they say which), with a message saying what to do. A daemon
 * started before an upgrade in place would otherwise answer the new client's
 * new calls with a bare HTTP 404.
 */
export const versionCheck: Interceptor = (next) => async (req) => {
  if (VERSION_FREE.has(req.method.name)) return next(req);
  const client = req.header.get(CLIENT_VERSION_HEADER);
  if (client && client !== WFCTL_VERSION) {
    throw new WfctlError(ErrorCode.VERSION_MISMATCH, `wfctl ${client} cannot use wfctld ${WFCTL_VERSION} (pid ${process.pid}): versions differ. ${RESTART_ADVICE}`);
  }
  const build = req.header.get(CLIENT_BUILD_HEADER);
  if (build && WFCTL_BUILD && build !== WFCTL_BUILD) {
    throw new WfctlError(
      ErrorCode.VERSION_MISMATCH,
      `wfctl ${client ?? WFCTL_VERSION} (build ${build}) cannot use wfctld ${WFCTL_VERSION} (pid ${process.pid}, build ${WFCTL_BUILD}): ` +
        `the same version, built separately (wfctl was rebuilt or upgraded in place while this daemon ran). ${RESTART_ADVICE}`,
    );
  }
  return next(req);
};

/** `stream` with every error it ends with replaced by `map(error)`. */
async function* mappedStream<T>(stream: AsyncIterable<T>, map: (err: unknown) => unknown): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (err) {
    throw map(err);
  }
}

/**
 * An interceptor that handles a call's failure, whether the handler throws
 * it or (a streamed response: WatchOperation, PluginLogs) the stream ends
 * with it: what `map` returns is thrown instead.
 */
function onFailure(map: (err: unknown, method: string) => unknown): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: mappedStream(res.message, (err) => map(err, req.method.name)) } : res;
    } catch (err) {
      throw map(err, req.method.name);
    }
  };
}

/** Turns every error into a ConnectError carrying its wfctl code, streamed calls' included (they were "internal error"). */
export const errorsToStatus: Interceptor = onFailure((err) => toConnectError(err));

/** The DaemonService routes, requests bounded at the edge, for the socket and the in-process transport alike. */
export function daemonRoutes(engine: Engine, host: ApiHost): (router: ConnectRouter) => void {
  return (router) => {
    // Every request is checked against its bounds before a handler sees it.
    router.service(DaemonService, boundedService(daemonService(engine, host)));
  };
}

/** Methods that start an operation: refused once the daemon is shutting down. */
const OPERATIONS = new Set(["Plan", "Apply", "Destroy", "Drift", "Refresh", "Teardown", "Outputs", "ListState", "ListStateLocks", "UnlockState", "LockPlugins"]);

/** Refuses new operations while the daemon drains (its running ones may still finish). */
export function refuseWhileDraining(draining: { readonly value: boolean }): Interceptor {
  return (next) => async (req) => {
    if (draining.value && OPERATIONS.has(req.method.name)) {
      throw new WfctlError(ErrorCode.DAEMON_UNAVAILABLE, `wfctld (pid ${process.pid}) is shutting down and takes no new operations; run the command again to start a fresh daemon`);
    }
    return next(req);
  };
}


const operations = () =>
  meter().createCounter("wfctl.operations", { description: "Socket API calls by method and outcome (a wfctl error code, or OK)" });

/**
 * A server span per call, child of the client's `traceparent`; counts calls
 * by outcome. Handlers find the span's context under traceKey.
 */
export const traced: Interceptor = (next) => async (req) => {
  const carrier: Record<string, string> = {};
  req.header.forEach((value, key) => (carrier[key] = value));
  return inSpan(`wfctld ${req.method.name}`, { parent: extractTrace(carrier), kind: SpanKind.SERVER, attributes: { "rpc.method": req.method.name } }, async (_span, ctx) => {
    req.contextValues.set(traceKey, ctx);
    try {
      const response = await next(req);
      operations().add(1, { method: req.method.name, outcome: "OK" });
      return response;
    } catch (err) {
      operations().add(1, { method: req.method.name, outcome: WfctlError.from(err).code });
      throw err;
    }
  });
};

/** Failures that are the daemon's or a dependency's, not the caller's: an operator wants them in the log. */
const SERVER_SIDE = new Set<string>([
  ErrorCode.INTERNAL, ErrorCode.UNKNOWN, ErrorCode.STATE_BACKEND_UNAVAILABLE, ErrorCode.STATE_CORRUPT, ErrorCode.PLUGIN_UNAVAILABLE,
  ErrorCode.PLUGIN_HANDSHAKE_FAILED, ErrorCode.PROVIDER_ERROR, ErrorCode.DAEMON_UNAVAILABLE, ErrorCode.DEADLINE_EXCEEDED,
]);

/**
 * One log line per failed call, so that the cause of a command's failure is in
 * wfctld.log too: warn for the daemon's and its dependencies' failures, info
 * for the caller's (a bad configuration, a held lock), debug for malformed
 * requests (a hostile client must not fill the log).
 */
export function logFailures(logger: DaemonLogger): Interceptor {
  return onFailure((err, method) => {
    const error = WfctlError.from(err);
    const level = error.code === ErrorCode.INVALID_ARGUMENT ? "debug" : SERVER_SIDE.has(error.code) ? "warn" : "info";
    logger[level]({ method, code: error.code, err: error.message.slice(0, 2000) }, `${method} failed`);
    return err;
  });
}

/** Interceptors in order (outermost first). */
export function daemonInterceptors(tracker: ActivityTracker, logger: DaemonLogger): Interceptor[] {
  return [errorsToStatus, traced, tracker.interceptor, logFailures(logger), versionCheck];
}
