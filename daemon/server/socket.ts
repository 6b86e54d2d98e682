// Claiming the daemon's socket safely: a private directory, a pid file taken
// exclusively (one daemon per socket), stale sockets and pid files from dead
// daemons detected and replaced, and a socket only the owner can connect to.
// The directory and every file in it are checked as the client checks them
// (proto/private-files.ts): a link, or anything of another user's, is refused.
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import * as net from "node:net";
import { dirname } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { checkPrivateFile, checkSocketDir, checkSocketFile, openPrivateFile } from "../../proto/private-files.js";
import { MAX_SOCKET_PATH, daemonFiles, processRunning } from "../../proto/socket.js";

/** Refuses a socket path longer than a Unix socket address holds, naming it. */
export function checkSocketPathLength(path: string): void {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `socket path is ${Buffer.byteLength(path)} bytes, longer than the ${MAX_SOCKET_PATH} a Unix socket allows: ${path}`);
  }
}

/**
 * Prepares the socket's directory: made private (0700) if missing; otherwise
 * it must already be the user's own, a real directory, closed to group and
 * others (the default runtime directory and a --socket one alike), or the
 * daemon refuses to start (SOCKET_UNTRUSTED), naming it and its owner.
 */
export function prepareSocketDir(socket: string): void {
  checkSocketPathLength(socket);
  const dir = dirname(socket);
  // lstat first: mkdir -p would go through a link, or accept a directory that is another user's.
  if (!checkSocketDir(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Made by someone else between the look and mkdir (which accepts a directory already there)?
  checkSocketDir(dir);
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
  let fd: number | undefined;
  try {
    // Never through a link, nor from a file someone else put there.
    fd = openPrivateFile(daemonFiles(socket).pid, "read", { what: "pid file" });
    const pid = Number.parseInt(readFileSync(fd, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Takes the pid file for `socket`, so that only one daemon serves it. A pid
 * file whose process is gone is stale and replaced; one that is a link, not
 * a regular file, or another user's is refused by name (SOCKET_UNTRUSTED).
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
      // O_EXCL never follows a link: whatever is there is looked at, not written through.
      checkPrivateFile(pidFile, { what: "pid file" });
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
  checkSocketPathLength(path);
  // Something there that is not this user's socket (a link, a file, another user's socket) is refused by name.
  checkSocketFile(path);
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
