// The socket API's routes and interceptors, shared by the daemon and the
// in-process (--no-daemon) transport: version check, activity tracking, and
// one place where every error becomes a Connect/gRPC status with its code.
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { toConnectError } from "../../proto/connect-errors.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { CLIENT_VERSION_HEADER, WFCTL_VERSION } from "../../proto/versions.js";
import type { Engine } from "../engine/engine.js";
import { type ApiHost, daemonService } from "./api.js";

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

/** Refuses clients of another version (when they say which), with a message saying what to do. */
export const versionCheck: Interceptor = (next) => async (req) => {
  const client = req.header.get(CLIENT_VERSION_HEADER);
  if (client && client !== WFCTL_VERSION && !VERSION_FREE.has(req.method.name)) {
    throw new WfctlError(
      ErrorCode.VERSION_MISMATCH,
      `wfctl ${client} cannot use wfctld ${WFCTL_VERSION} (pid ${process.pid}): versions differ. ` +
        "Stop the old daemon with `wfctl daemon stop`; the next command starts a matching one.",
    );
  }
  return next(req);
};

/** Turns every thrown error into a ConnectError carrying its wfctl code. */
export const errorsToStatus: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (err) {
    throw toConnectError(err);
  }
};

export function daemonRoutes(engine: Engine, host: ApiHost): (router: ConnectRouter) => void {
  return (router) => {
    router.service(DaemonService, daemonService(engine, host));
  };
}

/** Interceptors in order (outermost first). */
export function daemonInterceptors(tracker: ActivityTracker): Interceptor[] {
  return [errorsToStatus, tracker.interceptor, versionCheck];
}
