// Claiming the daemon's socket safely: a private directory, a pid file taken
// exclusively (one daemon per socket), stale sockets and pid files from dead
// daemons detected and replaced, and a socket only the owner can connect to.
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import * as net from "node:net";
import { userInfo } from "node:os";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { MAX_SOCKET_PATH, daemonFiles, processRunning } from "../../proto/socket.js";

/**
 * Prepares the socket's directory. The default runtime directory is made (or
 * fixed to be) one only the current user can enter. A directory the user
 * chose with --socket is created private if missing and otherwise left as it
 * is (it may be shared, like /tmp); the socket itself is always 0600.
 */
export function prepareSocketDir(dir: string, isDefault: boolean): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!isDefault) return;
  const info = lstatSync(dir);
  if (!info.isDirectory()) throw new WfctlError(ErrorCode.PERMISSION_DENIED, `${dir} is not a directory`);
  if (info.uid !== userInfo().uid) {
    throw new WfctlError(ErrorCode.PERMISSION_DENIED, `${dir} belongs to uid ${info.uid}, not to you (uid ${userInfo().uid}); refusing to put the daemon socket there`);
  }
  if ((info.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** Is something accepting connections on this socket path? */
export function probeSocket(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const done = (alive: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.on("error", () => done(false));
  });
}

/**
 * Is `pid` a live wfctld? A zombie (killed, not yet reaped: common in
 * containers whose pid 1 does not reap) is dead, and so is a pid the system
 * has since given to another program. Where /proc is missing, any live pid counts.
 */
export function daemonAlive(pid: number): boolean {
  if (!processRunning(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("wfctld");
  } catch {
    return !existsSync("/proc/self");
  }
}

/** The pid recorded beside a socket, if any. */
export function readPid(socket: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(daemonFiles(socket).pid, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the pid file for `socket`, so that only one daemon serves it. A pid
 * file whose process is gone is stale and replaced.
 */
export function claimPidFile(socket: string): () => void {
  const { pid: pidFile } = daemonFiles(socket);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(pidFile, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        if (readPid(socket) === process.pid) rmSync(pidFile, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = readPid(socket);
      if (pid !== undefined && pid !== process.pid && daemonAlive(pid)) {
        throw new WfctlError(ErrorCode.ALREADY_EXISTS, `wfctld is already running for ${socket} (pid ${pid})`);
      }
      rmSync(pidFile, { force: true });
    }
  }
  throw new WfctlError(ErrorCode.ALREADY_EXISTS, `could not take ${pidFile}: another wfctld is starting`);
}

/** Listens on `path` with owner-only permissions, replacing a stale socket file. */
export async function listenPrivate(server: net.Server, path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `socket path is ${Buffer.byteLength(path)} bytes, longer than the ${MAX_SOCKET_PATH} a Unix socket allows: ${path}`);
  }
  let exists = false;
  try {
    exists = lstatSync(path).isSocket();
  } catch {
    exists = false;
  }
  if (exists) {
    if (await probeSocket(path)) throw new WfctlError(ErrorCode.ALREADY_EXISTS, `another process is serving ${path}`);
    rmSync(path, { force: true }); // stale: its daemon is gone
  }
  // The socket is created with the umask's permissions: make it 0600 from birth.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(path, 0o600);
}
