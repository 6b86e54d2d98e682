// Reaching the daemon: connect to its socket, starting it in the background
// first when nothing answers (a stale socket file included); or, with
// --no-daemon, run the same API in this process.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ErrorCode, WfctlError } from "../proto/errors.js";
import { DaemonService } from "../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { daemonFiles } from "../proto/socket.js";
import { sendTrace } from "./trace.js";
import { CLIENT_VERSION_HEADER, MAX_MESSAGE_BYTES, PACKAGE_ROOT, WFCTL_VERSION } from "../proto/versions.js";

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
  return next(req);
};

/** Does anything accept connections on the socket? */
export function socketAlive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const finish = (alive: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

export function socketTransport(socketPath: string): Transport {
  return createConnectTransport({
    baseUrl: "http://wfctld",
    httpVersion: "1.1",
    useBinaryFormat: true,
    nodeOptions: { socketPath },
    interceptors: [sendVersion, sendTrace],
    readMaxBytes: MAX_MESSAGE_BYTES,
  });
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Starts wfctld detached from this process and waits until its socket answers. */
export async function startDaemon(socketPath: string): Promise<void> {
  const { log } = daemonFiles(socketPath);
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, "daemon", "bin", "wfctld.js"), "--socket", socketPath], {
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    env: process.env,
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      if (await socketAlive(socketPath, 500)) return;
      if (exited !== undefined && !(await socketAlive(socketPath, 500))) {
        // It may have lost a race to another daemon that is now serving.
        if (stderr.includes("already running") || stderr.includes("ALREADY_EXISTS")) continue;
        throw new WfctlError(
          ErrorCode.DAEMON_UNAVAILABLE,
          `wfctld exited (code ${exited}) before serving ${socketPath}:\n${stderr.trim() || tail(log, 10) || "(no output)"}`,
        );
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
  const inProcess = startInProcess({ logFile: process.env["WFCTL_LOG_FILE"], interceptors: [sendTrace], socket });
  const client = createClient(DaemonService, inProcess.transport);
  return { client, remote: false, close: () => inProcess.close() };
}
