// The in-process entry point for `wfctl --no-daemon`: the daemon's API served
// through an in-memory transport, with the same engine, supervisor, routes and
// interceptors, and plugins stopped when the command finishes. Also the
// configuration loader, for client commands that read infra.yaml themselves
// (`wfctl deploy verify`), and the plugin installer (`wfctl plugins install`):
// the client reaches daemon code only through here.
import { createRouterTransport, type Interceptor, type Transport } from "@connectrpc/connect";
import { daemonFiles, socketPath } from "../proto/socket.js";
import { MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES } from "../proto/versions.js";
import { fileAuditSink } from "./audit.js";
import { closePostgresPools } from "./state/postgres.js";
import { reportLostConnections } from "./state/postgres-clients.js";
import { Engine } from "./engine/engine.js";
import { silentLogger, createDaemonLogger } from "./log.js";
import { ActivityTracker, daemonInterceptors, daemonRoutes } from "./server/router.js";
import { PluginCatalog } from "./supervisor/catalog.js";
import { PluginSupervisor } from "./supervisor/supervisor.js";

export { loadInfraConfig } from "./config/load.js";
export { type Installed, type InstallStep, installOne, installSteps } from "./supervisor/install.js";
export type { HealthCheck, HttpCheck, InfraConfig, TcpCheck, VerifyConfig, VerifyTarget } from "./config/model.js";
export type { StatusRange } from "./config/schema.js";

export interface InProcessDaemon {
  transport: Transport;
  /** Stops every plugin started for this command. */
  close(): Promise<void>;
}

export function startInProcess(options: { logFile?: string; interceptors?: Interceptor[]; socket?: string } = {}): InProcessDaemon {
  const logger = options.logFile ? createDaemonLogger(options.logFile) : silentLogger();
  const supervisor = new PluginSupervisor(new PluginCatalog(), logger);
  reportLostConnections((err, where) => logger.warn({ err: err.message, where }, "lost a connection to the state database"));
  // Prunes made without a daemon go to the audit log the daemon of that socket (--socket, $WFCTL_SOCKET) would use.
  // No background retries of a lock release: this engine ends with the command (the warning says how to release it instead).
  const engine = new Engine(supervisor, logger, fileAuditSink(daemonFiles(socketPath(options.socket)).audit, logger), { retryLockReleasesInBackground: false });
  const tracker = new ActivityTracker();
  const startedAt = new Date();
  const transport = createRouterTransport(
    daemonRoutes(engine, {
      socketPath: "",
      logPath: options.logFile ?? "",
      startedAt,
      idleTimeoutSeconds: 0,
      activeOperations: () => Math.max(0, tracker.active - 1),
      shutdown: () => {
        supervisor.stopAll().catch((err: unknown) => logger.error({ err: (err as Error).message }, "could not stop the plugins"));
      },
    }),
    {
      // The same message limits as the daemon's socket: small requests, responses as large as protobuf allows.
      router: { interceptors: daemonInterceptors(tracker, logger), readMaxBytes: MAX_REQUEST_BYTES, writeMaxBytes: MAX_RESPONSE_BYTES },
      transport: { interceptors: options.interceptors ?? [], readMaxBytes: MAX_RESPONSE_BYTES },
    },
  );
  return {
    transport,
    // Plugins, and the database connections the postgres backend pooled, end with the command.
    close: async () => {
      await supervisor.stopAll();
      await closePostgresPools();
    },
  };
}
