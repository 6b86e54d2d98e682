// Socket activation (systemd's sd_listen_fds protocol): when systemd, or
// systemd-socket-activate, has bound the socket and started wfctld for its
// first connection, the daemon serves the listening socket it was handed as
// file descriptor 3 instead of binding the path itself. The socket file is
// then systemd's: the daemon never removes or replaces it.
import { chmodSync, fstatSync, readFileSync } from "node:fs";
import type * as net from "node:net";
import { resolve } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";

/** The first descriptor of sd_listen_fds: 0, 1 and 2 are stdio. */
const SD_LISTEN_FDS_START = 3;

/** A listening socket systemd passed to this process. */
export interface InheritedSocket {
  fd: number;
  /** The path it is bound to, when /proc/net/unix tells. */
  boundPath: string | undefined;
}

/**
 * The socket systemd passed to this process, if any: LISTEN_PID names this
 * process and LISTEN_FDS is at least 1. Like sd_listen_fds(unset=1), it
 * removes the LISTEN_* variables, so that plugins this daemon spawns do not
 * see them. Only the first descriptor is used.
 */
export function takeInheritedSocket(env: NodeJS.ProcessEnv = process.env): InheritedSocket | undefined {
  const pid = env["LISTEN_PID"];
  const fds = Number.parseInt(env["LISTEN_FDS"] ?? "", 10);
  if (pid !== String(process.pid) || !(fds >= 1)) return undefined;
  delete env["LISTEN_PID"];
  delete env["LISTEN_FDS"];
  delete env["LISTEN_FDNAMES"];
  const fd = SD_LISTEN_FDS_START;
  let info: ReturnType<typeof fstatSync>;
  try {
    info = fstatSync(fd);
  } catch {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `LISTEN_FDS says a socket was passed as descriptor ${fd}, but that descriptor is not open`);
  }
  if (!info.isSocket()) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `LISTEN_FDS says a socket was passed as descriptor ${fd}, but it is not a socket`);
  return { fd, boundPath: unixSocketPath(info.ino) };
}

/** The path a Unix socket is bound to, from /proc/net/unix (Linux); undefined when unknown. */
function unixSocketPath(inode: number): string | undefined {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "utf8");
  } catch {
    return undefined;
  }
  // Num: RefCount Protocol Flags Type St Inode [Path]
  for (const line of table.split("\n").slice(1)) {
    const m = line.match(/^\S+: \S+ \S+ \S+ \S+ \S+ (\d+)(?: (.*))?$/);
    if (m && Number(m[1]) === inode) return m[2] || undefined;
  }
  return undefined;
}

/**
 * Serves `inherited` as the daemon's socket `path`. It must be bound to that
 * path (when the kernel tells), so that status, pid file and log all name the
 * socket clients use; and, like a socket the daemon binds, only its owner may
 * connect to it.
 */
export async function listenInherited(server: net.Server, inherited: InheritedSocket, path: string): Promise<void> {
  if (inherited.boundPath !== undefined && resolve(inherited.boundPath) !== resolve(path)) {
    throw new WfctlError(
      ErrorCode.INVALID_ARGUMENT,
      `systemd passed wfctld a socket bound to ${inherited.boundPath}, but wfctld serves ${path} (its --socket, else $WFCTL_SOCKET, else the default); make ExecStart's --socket match the socket unit's ListenStream=`,
    );
  }
  try {
    chmodSync(path, 0o600);
  } catch (err) {
    throw new WfctlError(ErrorCode.PERMISSION_DENIED, `cannot make the socket systemd passed (${path}) private to its owner: ${(err as Error).message}; give the socket unit SocketUser= the daemon's user and SocketMode=0600`);
  }
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen({ fd: inherited.fd }, () => {
      server.off("error", fail);
      done();
    });
  });
}
