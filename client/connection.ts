// Reaching the daemon: connect to its socket, starting it in the background
// first when nothing answers (a stale socket file included); or, with
// --no-daemon, run the same API in this process.
import { spawn } from "node:child_process";
import { closeSync, fstatSync, mkdirSync, readSync } from "node:fs";
import * as net from "node:net";
import { dirname, join } from "node:path";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { connectionLost, daemonWentAway, toConnectError } from "../proto/connect-errors.js";
import { ErrorCode, WfctlError, hasCode } from "../proto/errors.js";
import { DaemonService } from "../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { checkDaemonSocket, checkSocketDir, openPrivateFile } from "../proto/private-files.js";
import { daemonFiles } from "../proto/socket.js";
import { sendStepEnvironment } from "./step-environment.js";
import { sendTrace } from "./trace.js";
import { CLIENT_BUILD_HEADER, CLIENT_VERSION_HEADER, MAX_RESPONSE_BYTES, PACKAGE_ROOT, WFCTL_BUILD, WFCTL_VERSION } from "../proto/versions.js";

export type DaemonClient = Client<typeof DaemonService>;

export interface Connection {
  client: DaemonClient;
  /** True when talking to a daemon over its socket. */
  remote: boolean;
  close(): Promise<void>;
}

/** How long to wait for a daemon we started to answer. */
const START_TIMEOUT_MS = 15_000;

const sendVersion: Interceptor = (next) => (req) => {
  req.header.set(CLIENT_VERSION_HEADER, WFCTL_VERSION);
  if (WFCTL_BUILD) req.header.set(CLIENT_BUILD_HEADER, WFCTL_BUILD);
  return next(req);
};

/**
 * Does anything accept connections on the socket? Only a socket of this
 * user's own, in a directory only this user can enter, is tried: anything
 * else is refused (SOCKET_UNTRUSTED) before a byte is sent. Every way to the
 * daemon (a command, `daemon status|start|stop`, starting one) asks this first.
 */
export function socketAlive(path: string, timeoutMs = 1000): Promise<boolean> {
  try {
    checkDaemonSocket(path);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const finish = (alive: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once("connect", () => finish(true));
    socket.on("error", () => finish(false));
  });
}

/**
 * Calls whose connection broke (the daemon was killed or crashed mid-call)
 * fail as DAEMON_UNAVAILABLE saying so, where the daemon's log is and what it
 * may have left held, instead of a bare "socket hang up". Stream errors come
 * while the stream is read, so the stream is wrapped too.
 */
function reportDaemonLoss(socketPath: string): Interceptor {
  const translate = (err: unknown): unknown => {
    const cause = connectionLost(err);
    // As a status with its wfctl code, which survives the client's own error wrapping.
    return cause === undefined ? err : toConnectError(daemonWentAway(cause, socketPath, daemonFiles(socketPath).log));
  };
  async function* guarded<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
    try {
      yield* stream;
    } catch (err) {
      throw translate(err);
    }
  }
  return (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: guarded(res.message) } : res;
    } catch (err) {
      throw translate(err);
    }
  };
}

export function socketTransport(socketPath: string): Transport {
  const transport = createConnectTransport({
    baseUrl: "http://wfctld",
    httpVersion: "1.1",
    useBinaryFormat: true,
    // No TLS, so no server name: left unset, node:http works one out from the
    // host, and its first IP-address check compiles a regular expression that
    // costs a short command about 7 ms.
    nodeOptions: { socketPath, servername: "" },
    // Every request about a configuration carries this step's variables (step-environment.ts).
    interceptors: [reportDaemonLoss(socketPath), sendVersion, sendTrace, sendStepEnvironment(() => transport)],
    // A report is as large as the plan it carries: read whatever the daemon may send.
    readMaxBytes: MAX_RESPONSE_BYTES,
    // Nothing compressed over a local socket: gzip would cost both ends CPU to save no time.
    acceptCompression: [],
  });
  return transport;
}

/**
 * The daemon's log, opened for appending (0600) to be its stdout and stderr,
 * and how long it was. Its directory is made private, or refused as the
 * daemon would refuse it; so is a log that is a link or another user's file.
 */
function openLogForDaemon(log: string): { fd: number; offset: number } | undefined {
  try {
    mkdirSync(dirname(log), { recursive: true, mode: 0o700 });
    // Made by someone else between the look and mkdir (which accepts a directory already there)?
    checkSocketDir(dirname(log));
    const fd = openPrivateFile(log, "append", { what: "log" });
    return { fd, offset: fstatSync(fd).size };
  } catch (err) {
    if (hasCode(err, ErrorCode.SOCKET_UNTRUSTED)) throw err;
    return undefined;
  }
}

/** What was appended to `file` after `offset` (its last 20 lines, at most 64 KiB). */
function appendedSince(file: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openPrivateFile(file, "read", { what: "log" });
    const size = fstatSync(fd).size;
    const start = Math.max(offset, size - 64 * 1024);
    const buffer = Buffer.alloc(Math.max(0, size - start));
    readSync(fd, buffer, 0, buffer.length, start);
    return buffer.toString("utf8").trimEnd().split("\n").slice(-20).join("\n");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Starts wfctld detached from this process and waits until its socket answers.
 * Its stdout and stderr are its log file (appended to, never a pipe that
 * closes when this command ends), so whatever it writes there, a crash
 * included, is kept; a failure to start is read back from what it appended.
 */
export async function startDaemon(socketPath: string): Promise<void> {
  const { log } = daemonFiles(socketPath);
  const output = openLogForDaemon(log);
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, "daemon", "bin", "wfctld.js"), "--socket", socketPath], {
    detached: true,
    // Without a log file to give it (a directory it cannot write), its stderr comes here instead.
    stdio: ["ignore", output?.fd ?? "ignore", output?.fd ?? "pipe"],
    env: process.env,
  });
  if (output) closeSync(output.fd);
  let piped = "";
  child.stderr?.on("data", (chunk: Buffer) => (piped += chunk.toString("utf8")));
  child.stderr?.on("error", () => {});
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = signal ? `signal ${signal}` : `code ${code}`));
  // A spawn that fails (no node executable, no memory) is an 'error' event, then no exit.
  child.once("error", (err) => (exited = `could not run it: ${err.message}`));
  const said = () => (output ? appendedSince(log, output.offset) : piped.trim());
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      if (await socketAlive(socketPath, 500)) return;
      if (exited !== undefined && !(await socketAlive(socketPath, 500))) {
        const text = said();
        // It may have lost a race to another daemon that is now serving.
        if (text.includes("already running") || text.includes("ALREADY_EXISTS")) continue;
        throw new WfctlError(ErrorCode.DAEMON_UNAVAILABLE, `wfctld exited (${exited}) before serving ${socketPath}:\n${text || "(no output)"}\n(log: ${log})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new WfctlError(ErrorCode.DAEMON_UNAVAILABLE, `wfctld did not start serving ${socketPath} within ${START_TIMEOUT_MS / 1000} s; see ${log}`);
  } finally {
    child.stderr?.destroy();
    child.unref();
  }
}

/** A connection to the daemon on `socketPath`, started if none answers (unless `autoStart` is false). */
export async function connectDaemon(socketPath: string, autoStart = true): Promise<Connection> {
  if (!(await socketAlive(socketPath))) {
    if (!autoStart) throw new WfctlError(ErrorCode.DAEMON_UNAVAILABLE, `no wfctld is serving ${socketPath}`);
    await startDaemon(socketPath);
  }
  return { client: createClient(DaemonService, socketTransport(socketPath)), remote: true, close: async () => {} };
}

/** The engine in this process, behind the same API (`--no-daemon`). */
export async function connectInProcess(socket?: string): Promise<Connection> {
  const { startInProcess } = await import("../daemon/inprocess.js");
  const inProcess = startInProcess({ logFile: process.env["WFCTL_LOG_FILE"], interceptors: [sendTrace, sendStepEnvironment(() => inProcess.transport)], socket });
  const client = createClient(DaemonService, inProcess.transport);
  return { client, remote: false, close: () => inProcess.close() };
}
