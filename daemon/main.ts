// wfctld: the daemon's command line. Usually started by `wfctl` on demand;
// run it by hand (or from systemd) to keep it in the foreground.
import { fstatSync, statSync } from "node:fs";
import { Command, Option } from "commander";
import { parseDuration } from "../proto/duration.js";
import { ErrorCode, WfctlError } from "../proto/errors.js";
import { daemonFiles, socketPath } from "../proto/socket.js";
import { initTelemetry } from "../proto/telemetry.js";
import { WFCTL_VERSION } from "../proto/versions.js";
import { setConfigLimits } from "./config/limits.js";
import { warmConfigParser } from "./config/offthread.js";
import { type DaemonLogger, createDaemonLogger } from "./log.js";
import { Daemon } from "./server/daemon.js";
import type { ConnectionTimeouts } from "./server/listen.js";
import { LastResort } from "./server/last-resort.js";
import { takeInheritedSocket } from "./server/activation.js";
import { prepareSocketDir } from "./server/socket.js";
import { forgetDaemonPgEnvironment } from "./state/postgres-settings.js";
import { useRecordWriterThread } from "./state/record-writer.js";
import { installFetchHeaders } from "../proto/fetch-headers.js";

// Connect keeps each request's headers in the fetch API's Headers: ours, so
// that the first request (the first command of a CI job, which started this
// daemon) does not wait for Node's fetch to load.
installFetchHeaders();

const program = new Command()
  .name("wfctld")
  .description("wfctl's plugin-host daemon: serves the wfctl socket API and keeps provider and state plugins warm.")
  .version(WFCTL_VERSION)
  .addOption(new Option("--socket <path>", "Unix socket to serve (default: $WFCTL_SOCKET, else a per-user runtime directory)"))
  .addOption(new Option("--idle-timeout <duration>", "exit after this long without requests; 0 never").default("3h"))
  .addOption(new Option("--plugin-idle-timeout <duration>", "stop a plugin instance after this long unused (it starts again on demand); 0 never").default("15m"))
  .addOption(new Option("--plugin-health-interval <duration>", "how often each running plugin is health-checked (a hung one is replaced); 0 never").default("2s"))
  .addOption(new Option("--shutdown-grace <duration>", "on stop, how long running operations may finish before they are cancelled").default("60s"))
  .addOption(new Option("--max-config-bytes <size>", "largest configuration file (infra.yaml, wfctl.yaml, lockfile) read, and the most its YAML aliases may expand to: bytes, or with KiB/MiB").default("10MiB"))
  .addOption(new Option("--config-timeout <duration>", "how long reading a configuration file, then parsing and checking it, may each take; 0 never gives up").default("60s"))
  .addOption(new Option("--headers-timeout <duration>", "a client connection must send its first bytes, and each request its headers, within this").default("10s"))
  .addOption(new Option("--request-timeout <duration>", "each request, body included, must arrive within this (responses, streamed ones included, are not bounded)").default("60s"))
  .addOption(new Option("--idle-connection-timeout <duration>", "a client connection with no request in progress is closed after this").default("60s"))
  .addOption(new Option("--log-file <path>", 'log file ("-" for stderr; default: beside the socket)'))
  .addOption(new Option("--log-level <level>", "log level").choices(["trace", "debug", "info", "warn", "error"]).default("info"))
  .showHelpAfterError("(run with --help for usage)");

interface DaemonFlags {
  socket?: string;
  idleTimeout: string;
  pluginIdleTimeout: string;
  pluginHealthInterval: string;
  shutdownGrace: string;
  maxConfigBytes: string;
  configTimeout: string;
  headersTimeout: string;
  requestTimeout: string;
  idleConnectionTimeout: string;
  logFile?: string;
  logLevel: string;
}

/** Bytes in "10MiB", "512KiB" or "1048576"; `what` names the flag in the error. */
function parseByteSize(text: string, what: string): number {
  const match = /^(\d+)\s*(|B|KiB|MiB|GiB)$/i.exec(text.trim());
  const units: Record<string, number> = { "": 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  const bytes = match ? Number(match[1]) * (units[(match[2] ?? "").toLowerCase()] ?? 1) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 1024 ** 3) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${what}: "${text}" is not a size from 1 byte to 1GiB (examples: 10MiB, 512KiB, 1048576)`);
  return bytes;
}

/** The client connection bounds the flags set; each must be more than zero. */
function connectionTimeouts(opts: DaemonFlags): ConnectionTimeouts {
  const positive = (text: string, flag: string) => {
    const ms = parseDuration(text, flag);
    if (ms <= 0) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${flag} must be more than zero, got "${text}"`);
    return ms;
  };
  const headersMs = positive(opts.headersTimeout, "--headers-timeout");
  const requestMs = positive(opts.requestTimeout, "--request-timeout");
  if (requestMs < headersMs) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `--request-timeout (${opts.requestTimeout}) must be at least --headers-timeout (${opts.headersTimeout})`);
  return { headersMs, requestMs, idleMs: positive(opts.idleConnectionTimeout, "--idle-connection-timeout") };
}

/** Exceptions and rejections nothing else handled: logged and counted, and the daemon goes on (see last-resort.ts). */
const lastResort = new LastResort();
/** The log, once open: where a start-up failure is recorded too. */
let log: { logger: DaemonLogger; path: string } | undefined;

/**
 * Is this process's stderr the log file itself? It is when wfctl started the
 * daemon: the client hands it the log, opened for appending, as stdout and
 * stderr, so that whatever Node or a crash writes there is kept.
 */
function stderrIsLog(path: string): boolean {
  try {
    const err = fstatSync(2);
    const file = statSync(path);
    return err.dev === file.dev && err.ino === file.ino;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  // A stdout or stderr whose reader went away (a closed pipe) fails each
  // write with EPIPE as an 'error' event: nothing to do but drop the text.
  process.stdout.on("error", () => {});
  process.stderr.on("error", () => {});
  program.parse();
  const opts = program.opts<DaemonFlags>();
  // Every variable a request reads comes with it (Target.environment); pg would read PG* from here behind our back.
  forgetDaemonPgEnvironment();
  const socket = socketPath(opts.socket);
  // Socket activation: systemd bound the socket and passed it (LISTEN_FDS).
  const inherited = takeInheritedSocket();
  // Before anything else writes beside the socket (the log file), make its
  // directory private.
  prepareSocketDir(socket);
  const logPath = opts.logFile === "-" ? "" : (opts.logFile ?? daemonFiles(socket).log);
  const logger = createDaemonLogger(logPath || undefined, opts.logLevel);
  log = { logger, path: logPath };
  lastResort.install(logger);
  const telemetry = await initTelemetry("wfctld");
  const idleMs = parseDuration(opts.idleTimeout, "--idle-timeout");
  // Configurations are parsed in a worker thread, within the time budget: the event loop serves every client.
  setConfigLimits({ maxBytes: parseByteSize(opts.maxConfigBytes, "--max-config-bytes"), timeoutMs: parseDuration(opts.configTimeout, "--config-timeout"), inWorker: true });
  warmConfigParser();
  // The filesystem backend's records are written in a thread of their own too (state/record-writer.ts).
  useRecordWriterThread();
  const pluginIdleMs = parseDuration(opts.pluginIdleTimeout, "--plugin-idle-timeout");
  const daemon = await Daemon.start({
    socketPath: socket,
    logPath,
    logger,
    idleTimeoutSeconds: Math.round(idleMs / 1000),
    plugins: { idleStopMs: pluginIdleMs, healthIntervalMs: parseDuration(opts.pluginHealthInterval, "--plugin-health-interval") },
    shutdownGraceMs: parseDuration(opts.shutdownGrace, "--shutdown-grace"),
    inherited,
    uncaught: lastResort,
    connections: connectionTimeouts(opts),
  });
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.on(signal, () => daemon.stopLogged(`received ${signal}`));
  }
  await daemon.stopped;
  await telemetry.shutdown();
  process.exit(0);
}

main().catch((err: unknown) => {
  const error = WfctlError.from(err);
  // On stderr for whoever started it (wfctl reads it from the log, which is then its stderr);
  // in the log as well when the log is another file.
  process.stderr.write(`wfctld: ${error.message} [${error.code}]\n`);
  if (log?.path && !stderrIsLog(log.path)) log.logger.fatal({ code: error.code, err: error.message, stack: error.stack }, "wfctld could not start or stopped on an error");
  process.exit(1);
});
