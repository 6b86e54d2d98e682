// wfctl daemon start|stop|status: manage the warm wfctld for this socket.
import { Command, Option } from "commander";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { daemonFiles, processRunning, socketPath } from "../../proto/socket.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { createClient } from "@connectrpc/connect";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { socketAlive, socketTransport, startDaemon } from "../connection.js";
import { EXIT } from "../exit-codes.js";
import { interrupt, out, printJson } from "../runtime.js";

interface DaemonOptions {
  socket?: string;
  json?: boolean;
}

const pidGone = (pid: number): boolean => !processRunning(pid);

/** Bytes as MiB with one decimal, as `daemon status` shows memory. */
function mebibytes(bytes: bigint): string {
  return `${(Number(bytes) / 1024 / 1024).toFixed(1)} MiB`;
}

function client(socket: string) {
  return createClient(DaemonService, socketTransport(socket));
}

async function status(opts: DaemonOptions): Promise<number> {
  const socket = socketPath(opts.socket);
  if (!(await socketAlive(socket))) {
    if (opts.json) printJson({ running: false, socket_path: socket, log_path: daemonFiles(socket).log });
    else out(`wfctld is not running (socket ${socket}).\n`);
    return EXIT.UNAVAILABLE;
  }
  const s = await client(socket).status({}, { signal: interrupt.signal, timeoutMs: 10_000 });
  if (opts.json) {
    printJson({
      running: true,
      version: s.version,
      pid: s.pid,
      socket_path: s.socketPath,
      log_path: s.logPath,
      started_at: s.startedAt,
      uptime_seconds: Math.round(s.uptimeSeconds),
      running_plugins: s.runningPlugins,
      active_operations: s.activeOperations,
      operations: s.operations.map((o) => ({
        id: o.id,
        operation: o.operation,
        config: o.target?.configPath ?? "",
        env: o.target?.env || undefined,
        caller: o.caller,
        started_at: o.startedAt,
        lock: o.lockId ? { id: o.lockId, scope: o.lockScope } : undefined,
      })),
      pending_lock_releases: s.pendingLockReleases.map((p) => ({
        lock_id: p.lockId,
        scope: p.scope,
        operation: p.operation,
        operation_id: p.operationId,
        config: p.target?.configPath ?? "",
        env: p.target?.env || undefined,
        failed_at: p.failedAt,
        gives_up_at: p.givesUpAt,
        attempts: p.attempts,
        last_error: p.lastError,
      })),
      idle_timeout_seconds: s.idleTimeoutSeconds,
      rss_bytes: Number(s.rssBytes),
      heap_used_bytes: Number(s.heapUsedBytes),
      uncaught_errors: s.uncaughtErrors,
      last_uncaught_error: s.lastUncaughtError || undefined,
      node_version: s.nodeVersion,
      client_version: WFCTL_VERSION,
    });
    return EXIT.OK;
  }
  out(
    [
      `wfctld ${s.version} is running (pid ${s.pid})`,
      `  socket:       ${s.socketPath}`,
      `  log:          ${s.logPath || "(stderr)"}`,
      `  started:      ${s.startedAt} (up ${Math.round(s.uptimeSeconds)} s)`,
      `  plugins:      ${s.runningPlugins} running`,
      `  operations:   ${s.activeOperations} in progress`,
      `  idle timeout: ${s.idleTimeoutSeconds ? `${s.idleTimeoutSeconds} s` : "never"}`,
      `  memory:       ${mebibytes(s.rssBytes)} resident, ${mebibytes(s.heapUsedBytes)} heap in use`,
      ...(s.uncaughtErrors > 0
        ? [`  unhandled errors: ${s.uncaughtErrors}, logged and survived (a bug: please report it); the last: ${s.lastUncaughtError}`]
        : []),
      ...s.operations.map(
        (o) =>
          `  - ${o.operation} ${o.target?.configPath ?? ""}${o.target?.env ? ` (env ${o.target.env})` : ""} by ${o.caller} since ${o.startedAt}` +
          (o.lockId ? `, holding lock ${o.lockId} (${o.lockScope})` : "") +
          ` [operation ${o.id}]`,
      ),
      ...(s.pendingLockReleases.length > 0 ? [`  locks awaiting release (their release failed; retried in the background):`] : []),
      ...s.pendingLockReleases.map(
        (p) =>
          `  - lock ${p.lockId} (${p.scope}) of ${p.operation} ${p.target?.configPath ?? ""}${p.target?.env ? ` (env ${p.target.env})` : ""}: ` +
          `failing since ${p.failedAt}, ${p.attempts} attempts, last error: ${p.lastError}; gives up at ${p.givesUpAt}`,
      ),
      ...(s.version !== WFCTL_VERSION ? [`  NOTE: this wfctl is ${WFCTL_VERSION}; run \`wfctl daemon stop\` to replace the daemon`] : []),
    ].join("\n") + "\n",
  );
  return EXIT.OK;
}

async function start(opts: DaemonOptions): Promise<number> {
  const socket = socketPath(opts.socket);
  const already = await socketAlive(socket);
  if (!already) await startDaemon(socket);
  const s = await client(socket).status({}, { signal: interrupt.signal, timeoutMs: 10_000 });
  if (opts.json) printJson({ started: !already, pid: s.pid, socket_path: s.socketPath, log_path: s.logPath, version: s.version });
  else out(`${already ? "wfctld was already running" : "wfctld started"} (pid ${s.pid}, socket ${s.socketPath}, log ${s.logPath || "stderr"})\n`);
  return EXIT.OK;
}

/** Asks the daemon to stop and waits until its process (and so every plugin it started) is gone. */
async function stop(opts: DaemonOptions): Promise<number> {
  const socket = socketPath(opts.socket);
  if (!(await socketAlive(socket))) {
    if (opts.json) printJson({ stopped: false, running: false, socket_path: socket });
    else out(`wfctld is not running (socket ${socket}).\n`);
    return EXIT.OK;
  }
  const c = client(socket);
  const { pid } = await c.status({}, { signal: interrupt.signal, timeoutMs: 10_000 });
  await c.shutdown({}, { signal: interrupt.signal, timeoutMs: 10_000 });
  const deadline = Date.now() + 150_000;
  while (!pidGone(pid)) {
    if (Date.now() > deadline) throw new WfctlError(ErrorCode.DEADLINE_EXCEEDED, `wfctld (pid ${pid}) did not exit within 150 s of being asked to stop (its running operations get a grace period, then are cancelled)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (opts.json) printJson({ stopped: true, pid, socket_path: socket });
  else out(`wfctld stopped (pid ${pid}).\n`);
  return EXIT.OK;
}

export function daemonCommand(run: (code: Promise<number>) => Promise<void>): Command {
  const daemon = new Command("daemon").description("manage wfctld, the warm daemon wfctl talks to");
  const socket = () => new Option("--socket <path>", "daemon socket (default: $WFCTL_SOCKET, else a per-user runtime directory)");
  const json = () => new Option("--json", "print machine-readable JSON on stdout");
  daemon.command("start").description("start wfctld in the background (commands also start it on demand)").addOption(socket()).addOption(json()).action((o: DaemonOptions) => run(start(o)));
  daemon.command("stop").description("stop wfctld and every plugin it started").addOption(socket()).addOption(json()).action((o: DaemonOptions) => run(stop(o)));
  daemon.command("status").description("show whether wfctld runs, its pid, socket and log file").addOption(socket()).addOption(json()).action((o: DaemonOptions) => run(status(o)));
  return daemon;
}
