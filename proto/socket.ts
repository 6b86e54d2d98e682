// Where the daemon listens: a per-user socket in a directory only that user
// can enter, with its pid and log files beside it. `--socket` or WFCTL_SOCKET
// choose another path.
import { tmpdir, userInfo } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Environment variable that overrides the socket path. */
export const SOCKET_ENV = "WFCTL_SOCKET";

/** Unix socket paths must fit in sockaddr_un (108 bytes on Linux, with the NUL). */
export const MAX_SOCKET_PATH = 107;

/** The per-user runtime directory: $XDG_RUNTIME_DIR/wfctl, else <tmp>/wfctl-<uid>. */
export function defaultRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env["XDG_RUNTIME_DIR"];
  if (xdg) return join(xdg, "wfctl");
  return join(tmpdir(), `wfctl-${userInfo().uid}`);
}

/** The socket path: the flag, else $WFCTL_SOCKET, else the default. */
export function socketPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env[SOCKET_ENV] || join(defaultRuntimeDir(env), "wfctld.sock");
}

/** The daemon's pid, log and audit files for a socket path: beside it, same base name. */
export function daemonFiles(socket: string): { dir: string; pid: string; log: string; audit: string } {
  const dir = dirname(socket);
  const base = basename(socket).replace(/\.sock$/, "");
  return { dir, pid: join(dir, `${base}.pid`), log: join(dir, `${base}.log`), audit: join(dir, `${base}.audit.log`) };
}

/**
 * Is `pid` a running process? A zombie (exited, not yet reaped, as in
 * containers whose pid 1 does not reap) is not. Where /proc is missing, any
 * pid that signals count.
 */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return !existsSync("/proc/self");
  }
}
