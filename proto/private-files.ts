// Paths only their owner may control: the directory of the daemon's socket,
// the socket, and the files the daemon keeps beside it (pid file, log, audit
// log). The client checks them before it connects or starts a daemon, the
// daemon before it listens or writes, with the same rules: a directory of the
// user's own, not a symbolic link, closed to group and others; a socket and
// files of the user's own, of the right kind, never reached through a link.
import { constants, closeSync, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { ErrorCode, WfctlError } from "./errors.js";

/** What a path must be. */
export type PrivateRole = "directory" | "socket" | "file";

/** What lstat (or fstat) says about a path, as far as the checks care. */
export interface PathFacts {
  kind: "directory" | "socket" | "file" | "symlink" | "device" | "other";
  uid: number;
  mode: number;
}

export function factsOf(stats: Stats): PathFacts {
  const kind = stats.isSymbolicLink()
    ? "symlink"
    : stats.isDirectory()
      ? "directory"
      : stats.isSocket()
        ? "socket"
        : stats.isFile()
          ? "file"
          : stats.isCharacterDevice()
            ? "device"
            : "other";
  return { kind, uid: stats.uid, mode: stats.mode };
}

const KIND_WORDS: Record<PathFacts["kind"], string> = {
  directory: "a directory",
  socket: "a socket",
  file: "a regular file",
  symlink: "a symbolic link",
  device: "a device",
  other: "a FIFO or other special file",
};

let passwd: string | undefined;

/** The login name of `uid` in /etc/passwd (or the text given), if it has one. */
export function userNameOf(uid: number, table?: string): string | undefined {
  if (table === undefined) {
    try {
      passwd ??= readFileSync("/etc/passwd", "utf8");
    } catch {
      passwd = "";
    }
    table = passwd;
  }
  for (const line of table.split("\n")) {
    const [name, , id] = line.split(":");
    if (name && id !== undefined && Number(id) === uid && id.trim() !== "") return name;
  }
  return undefined;
}

/** "uid 65534 (nobody)", or "uid 4242" for a uid with no name. */
export function describeUid(uid: number, nameOf: (uid: number) => string | undefined = userNameOf): string {
  const name = nameOf(uid);
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

/** The current user's uid (0 where the platform has none, as on Windows, where these checks do not apply). */
export function currentUid(): number {
  return process.getuid?.() ?? 0;
}

/**
 * What is wrong with a path that must be a `role` of user `uid`, in words
 * that follow its name ("is a symbolic link"), or undefined when nothing is.
 * `devices` lets a file be a character device (a log sent to /dev/null).
 */
export function privatePathProblem(
  facts: PathFacts,
  role: PrivateRole,
  uid: number,
  options: { devices?: boolean; nameOf?: (uid: number) => string | undefined } = {},
): string | undefined {
  if (facts.kind === "symlink") return "is a symbolic link";
  if (role === "file" && facts.kind === "device" && options.devices) return undefined;
  if (facts.kind !== role) return `is not ${KIND_WORDS[role]}: it is ${KIND_WORDS[facts.kind]}`;
  if (facts.uid !== uid) return `belongs to ${describeUid(facts.uid, options.nameOf)}, and you are ${describeUid(uid, options.nameOf)}`;
  if (role === "directory" && (facts.mode & 0o077) !== 0) {
    const open = [(facts.mode & 0o070) !== 0 ? "its group" : "", (facts.mode & 0o007) !== 0 ? "other users" : ""].filter(Boolean).join(" and ");
    return `is open to ${open} (mode ${(facts.mode & 0o777).toString(8).padStart(4, "0")})`;
  }
  return undefined;
}

/** lstat, or undefined when nothing is there. */
function lstatIfPresent(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** " (to TARGET)" for a symbolic link, when it can be read. */
function linkTarget(path: string): string {
  try {
    return ` (to ${readlinkSync(path)})`;
  } catch {
    return "";
  }
}

const ELSEWHERE = "use a directory only you can enter: set XDG_RUNTIME_DIR, or pass --socket (or set $WFCTL_SOCKET)";

/** Advice for a socket directory or socket with `problem`. */
function socketAdvice(path: string, facts: PathFacts, what: "directory" | "socket"): string {
  if (facts.kind === "symlink") return `wfctl does not follow it. Remove the link, or ${ELSEWHERE}`;
  if (facts.kind !== what) return `Remove it (rm ${path}), or ${ELSEWHERE}`;
  if (facts.uid !== currentUid()) {
    return (
      `Another user may be listening there: wfctl neither connects to it nor starts a daemon in it. ` +
      `Remove it (an administrator may have to: it is not yours), or ${ELSEWHERE}`
    );
  }
  return `Make it private (chmod 700 ${path}) once you have checked that nothing in it was put there by someone else, or ${ELSEWHERE}`;
}

/**
 * Refuses the directory of a daemon socket unless it is the current user's
 * own, a real directory (not a link), closed to group and others. True when
 * it exists; a missing one is fine (whoever makes it makes it private).
 */
export function checkSocketDir(dir: string): boolean {
  const stats = lstatIfPresent(dir);
  if (stats === undefined) return false;
  const facts = factsOf(stats);
  const problem = privatePathProblem(facts, "directory", currentUid());
  if (problem !== undefined) {
    const link = facts.kind === "symlink" ? linkTarget(dir) : "";
    throw new WfctlError(ErrorCode.SOCKET_UNTRUSTED, `refusing the daemon's socket directory ${dir}: it ${problem}${link}. ${socketAdvice(dir, facts, "directory")}`);
  }
  return true;
}

/** Refuses a daemon socket file that is there but is not a socket of the current user's own. */
export function checkSocketFile(socket: string): void {
  const stats = lstatIfPresent(socket);
  if (stats === undefined) return;
  const facts = factsOf(stats);
  const problem = privatePathProblem(facts, "socket", currentUid());
  if (problem !== undefined) {
    const link = facts.kind === "symlink" ? linkTarget(socket) : "";
    throw new WfctlError(ErrorCode.SOCKET_UNTRUSTED, `refusing the daemon socket ${socket}: it ${problem}${link}. ${socketAdvice(socket, facts, "socket")}`);
  }
}

/** The client's check before it sends anything to a daemon socket (or starts a daemon for it): its directory, then the socket. */
export function checkDaemonSocket(socket: string): void {
  checkSocketDir(dirname(socket));
  checkSocketFile(socket);
}

/** How a private file is opened. */
export interface PrivateFileOptions {
  /** Says what the file is, for messages ("pid file", "log", "audit log"). */
  what: string;
  /** A character device (/dev/null) is accepted too. */
  devices?: boolean;
}

function untrustedFile(path: string, what: string, problem: string): WfctlError {
  return new WfctlError(
    ErrorCode.SOCKET_UNTRUSTED,
    `refusing the daemon's ${what} ${path}: it ${problem}. wfctld writes only to a regular file of its own user, never through a link; ` +
      `remove it (rm ${path}) if you do not know who put it there, and start again`,
  );
}

/** Refuses a file that is there but is not a regular file of the current user's own (nothing there is fine). */
export function checkPrivateFile(path: string, options: PrivateFileOptions): void {
  const stats = lstatIfPresent(path);
  if (stats === undefined) return;
  const facts = factsOf(stats);
  const problem = privatePathProblem(facts, "file", currentUid(), options);
  if (problem !== undefined) throw untrustedFile(path, options.what, `${problem}${facts.kind === "symlink" ? linkTarget(path) : ""}`);
}

const OPEN_FLAGS = {
  // O_NONBLOCK: opening a FIFO planted in the file's place must not wait for
  // a reader (it fails, or is refused by the fstat below); it changes nothing for a regular file.
  append: constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK,
  read: constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
} as const;

/**
 * Opens a file the daemon keeps (created 0600 when appending), never through
 * a symbolic link (O_NOFOLLOW), and only when what was opened is a regular
 * file of the current user's own: a file another user planted, a link or a
 * FIFO is refused by name (SOCKET_UNTRUSTED). Returns the descriptor.
 */
export function openPrivateFile(path: string, how: keyof typeof OPEN_FLAGS, options: PrivateFileOptions): number {
  checkPrivateFile(path, options);
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS[how], 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Put there between the look and the open.
    if (code === "ELOOP") throw untrustedFile(path, options.what, `is a symbolic link${linkTarget(path)}`);
    if (code === "ENXIO") throw untrustedFile(path, options.what, `is not a regular file: it is ${KIND_WORDS.other}`);
    throw err;
  }
  try {
    const problem = privatePathProblem(factsOf(fstatSync(fd)), "file", currentUid(), options);
    if (problem !== undefined) throw untrustedFile(path, options.what, problem);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
