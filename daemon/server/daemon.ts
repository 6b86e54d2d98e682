// wfctld as a process: claims its socket, serves the API, keeps plugins warm,
// exits after an idle period, and on stop (signal, Shutdown call or idle)
// stops every plugin before it goes.
import { rmSync } from "node:fs";
import { createContextValues } from "@connectrpc/connect";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { checkPrivateFile } from "../../proto/private-files.js";
import { daemonFiles } from "../../proto/socket.js";
import { fileAuditSink } from "../audit.js";
import { MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES } from "../../proto/versions.js";
import { Engine } from "../engine/engine.js";
import { closePostgresPools } from "../state/postgres.js";
import { reportLostConnections } from "../state/postgres-clients.js";
import type { DaemonLogger } from "../log.js";
import { PluginCatalog } from "../supervisor/catalog.js";
import { PluginSupervisor, type SupervisorOptions } from "../supervisor/supervisor.js";
import { type InheritedSocket, listenInherited } from "./activation.js";
import { daemonNodeAdapter, refuseMalformed } from "./adapter.js";
import type { UncaughtErrors } from "./last-resort.js";
import { type ConnectionTimeouts, createDualServer } from "./listen.js";
import { connectionPeerKey, peerLookupOf } from "./peer.js";
import { ActivityTracker, daemonInterceptors, daemonRoutes, refuseWhileDraining } from "./router.js";
import { claimPidFile, listenPrivate, prepareSocketDir } from "./socket.js";

export interface DaemonOptions {
  socketPath: string;
  /** Where the log goes (for `daemon status`); "" when logging to stderr. */
  logPath: string;
  logger: DaemonLogger;
  /** Exit after this long with no request; 0 never exits on its own. */
  idleTimeoutSeconds: number;
  catalog?: PluginCatalog;
  /** Plugin timing and restart knobs (tests shorten them). */
  plugins?: SupervisorOptions;
  /** On stop, how long running operations may go on before they are cancelled (default 30 s). */
  shutdownGraceMs?: number;
  /**
   * A listening socket systemd passed (socket activation), served instead of
   * binding `socketPath`. The socket file is then systemd's: it is neither
   * replaced at start nor removed at stop.
   */
  inherited?: InheritedSocket;
  /** What the process's last-resort handler caught, for Status. */
  uncaught?: UncaughtErrors;
  /** Bounds on client connections (default DEFAULT_CONNECTION_TIMEOUTS). */
  connections?: ConnectionTimeouts;
}

export class Daemon {
  private stopping: Promise<void> | undefined;
  private resolveStopped!: () => void;
  /** Resolves once the daemon has fully stopped. */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));

  private constructor(
    private readonly options: DaemonOptions,
    private readonly supervisor: PluginSupervisor,
    private readonly engine: Engine,
    private readonly draining: { value: boolean },
    private readonly server: ReturnType<typeof createDualServer>,
    private readonly tracker: ActivityTracker,
    private readonly releasePid: () => void,
  ) {}

  static async start(options: DaemonOptions): Promise<Daemon> {
    const { socketPath, logger } = options;
    prepareSocketDir(socketPath);
    // Written only when a prune or an unlock happens: a link or another user's file there is refused now, not then.
    checkPrivateFile(daemonFiles(socketPath).audit, { what: "audit log" });
    const releasePid = claimPidFile(socketPath);
    reportLostConnections((err, where) => logger.warn({ err: err.message, where }, "lost a connection to the state database"));
    const supervisor = new PluginSupervisor(options.catalog ?? new PluginCatalog(), logger, options.plugins);
    const engine = new Engine(supervisor, logger, fileAuditSink(daemonFiles(socketPath).audit, logger));
    const tracker = new ActivityTracker();
    const draining = { value: false };
    // Filled in below: the API's host is the daemon being built.
    let daemon: Daemon | undefined;
    const handler = daemonNodeAdapter({
      routes: daemonRoutes(engine, {
        socketPath,
        logPath: options.logPath,
        startedAt: new Date(),
        idleTimeoutSeconds: options.idleTimeoutSeconds,
        activeOperations: () => Math.max(0, tracker.active - 1),
        shutdown: () => daemon?.stopLogged("Shutdown requested over the socket"),
        uncaught: options.uncaught,
      }),
      interceptors: [...daemonInterceptors(tracker, logger), refuseWhileDraining(draining), refuseMalformed],
      // Each call can find its connection's peer (looked up only by the calls that need it).
      contextValues: (req) => createContextValues().set(connectionPeerKey, peerLookupOf(req)),
      // Requests are small; responses (plans, reports) may be large.
      readMaxBytes: MAX_REQUEST_BYTES,
      writeMaxBytes: MAX_RESPONSE_BYTES,
      onWriteError: (err, method) => logger.debug({ method, err: (err as Error).message }, "could not write an answer"),
    });
    const server = createDualServer(handler, (err, where) => logger.debug({ err: err.message, where }, "client connection error"), options.connections);
    // After listen(), an accept error (EMFILE, ENFILE) is an 'error' event: without a listener it ends the daemon.
    server.server.on("error", (err) => logger.error({ err: err.message }, "socket server error"));
    try {
      if (options.inherited) await listenInherited(server.server, options.inherited, socketPath);
      else await listenPrivate(server.server, socketPath);
    } catch (err) {
      releasePid();
      throw err;
    }
    daemon = new Daemon(options, supervisor, engine, draining, server, tracker, releasePid);
    daemon.watchIdle();
    logger.info(
      { socket: socketPath, log: options.logPath, idle_timeout_s: options.idleTimeoutSeconds, ...(options.inherited ? { socket_activated: true } : {}) },
      "wfctld started",
    );
    return daemon;
  }

  private watchIdle(): void {
    const idleMs = this.options.idleTimeoutSeconds * 1000;
    if (idleMs <= 0) return;
    const timer = setInterval(() => {
      if (this.tracker.active === 0 && Date.now() - this.tracker.lastActivity >= idleMs) {
        clearInterval(timer);
        this.stopLogged(`idle for ${this.options.idleTimeoutSeconds} s`);
      }
    }, Math.min(idleMs, 30_000));
    timer.unref();
  }

  /**
   * Stops (see stop()) from a callback that cannot wait. A failure to stop is
   * logged, never left unhandled, and the daemon still counts as stopped (its
   * plugins exit when it is gone: they watch the pipe it holds).
   */
  stopLogged(reason: string): void {
    this.stop(reason).catch((err: unknown) => {
      this.options.logger.error({ err: (err as Error).message, stack: (err as Error).stack, reason }, "wfctld could not stop cleanly; exiting anyway");
      this.resolveStopped();
    });
  }

  /**
   * Stops gracefully: refuses new operations, lets running ones finish for
   * the grace period, then cancels them (they still record what they did and
   * answer their clients), then stops every plugin, closes connections and
   * removes the socket and pid file.
   */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      const { logger, socketPath } = this.options;
      const graceMs = this.options.shutdownGraceMs ?? 30_000;
      logger.info({ reason, running: this.engine.operations().length, grace_ms: graceMs }, "wfctld stopping");
      this.draining.value = true;
      this.server.server.close();
      if (!(await this.settled(graceMs))) {
        const n = this.engine.cancelAll(
          "wfctld shutdown",
          new WfctlError(ErrorCode.DAEMON_UNAVAILABLE, `wfctld is shutting down (${reason}) and cancelled this operation after its ${graceMs / 1000} s grace period`),
        );
        logger.warn({ cancelled: n }, "grace period over: operations cancelled");
        if (!(await this.settled(60_000))) logger.error({ running: this.engine.operations().length }, "operations did not settle after cancellation");
      }
      // Let the last responses reach their clients.
      await new Promise((r) => setTimeout(r, 100));
      await this.supervisor.stopAll();
      await closePostgresPools();
      this.server.closeConnections();
      // An inherited socket stays: systemd listens on it while the daemon is
      // gone, and starts the daemon again for the next connection.
      if (!this.options.inherited) rmSync(socketPath, { force: true });
      this.releasePid();
      logger.info("wfctld stopped");
      this.resolveStopped();
    })();
    return this.stopping;
  }

  /** Waits until no operation runs, at most `ms`; true if none runs. */
  private async settled(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.engine.operations().length > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

}
