// Who is at the other end of a socket connection. The client says who it is
// (Caller: user@host and pid); beside that claim the daemon records what it
// can establish itself: the peer's uid and pid. Node has no SO_PEERCRED, so
// on Linux the daemon asks the kernel through a helper process: `perl`
// reads SO_PEERCRED on a copy of the connection's descriptor (the
// credentials of the process that connected); without perl, iproute2's `ss`
// names the process holding the socket's other end. Each costs a process
// start (15 to 50 ms on a busy machine), so it is done only when an audit
// line is about to be written (a prune, an unlock), once per connection, and
// a peer of another uid is refused then, before the change. Elsewhere the
// socket's mode is all there is: only its owner and root can connect.
import { execFile, spawn } from "node:child_process";
import { fstatSync, statSync } from "node:fs";
import type * as net from "node:net";
import { createContextKey } from "@connectrpc/connect";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { currentUid, describeUid, userNameOf } from "../../proto/private-files.js";
import type { Peer } from "../engine/request.js";

/** Longest a helper (perl, ss) may take before the next way is tried. */
const HELPER_TIMEOUT_MS = 5_000;

/** SOL_SOCKET and SO_PEERCRED for this architecture (Linux's asm-generic values, and the two families that differ). */
const SOCKOPT: { level: number; name: number } =
  process.arch === "ppc64" || process.arch === "ppc"
    ? { level: 1, name: 21 }
    : process.arch === "mips" || process.arch === "mipsel"
      ? { level: 0xffff, name: 18 }
      : { level: 1, name: 17 };

/** struct ucred is { pid_t pid; uid_t uid; gid_t gid; }. */
const PEERCRED_SCRIPT = `my $c = getsockopt(STDIN, ${SOCKOPT.level}, ${SOCKOPT.name}) or die "getsockopt: $!\\n"; print join(" ", unpack("iII", $c)), "\\n";`;

/** The helpers' environment: enough to find them, and none of the daemon's own variables (credentials included). */
const HELPER_ENV = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LC_ALL: "C" };

/** Helpers found missing (ENOENT) are not tried again. */
const missing = new Set<string>();

/** The peer when nothing better is known: the socket is 0600, so its owner (this user) or root. */
function socketOwner(): Peer {
  const uid = currentUid();
  return { uid, ...named(uid), basis: "socket-owner" };
}

function named(uid: number): { user?: string } {
  const user = userNameOf(uid);
  return user ? { user } : {};
}

/** The uid that owns a live process, from /proc. */
function uidOfProcess(pid: number): number | undefined {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return undefined;
  }
}

/** Is `fd` still the socket with this inode (not closed, its number not reused)? */
function stillOurs(fd: number, inode: number): boolean {
  try {
    return fstatSync(fd).ino === inode;
  } catch {
    return false;
  }
}

/** SO_PEERCRED of the connection on `fd` (whose inode is `inode`), read by perl from a copy of it as its stdin. */
export function peerByPeercred(fd: number, inode: number): Promise<Peer | undefined> {
  if (missing.has("perl") || !stillOurs(fd, inode)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let out = "";
    // Synchronous from the check above to the fork: the descriptor cannot change in between.
    const child = spawn("perl", ["-e", PEERCRED_SCRIPT], { stdio: [fd, "pipe", "ignore"], timeout: HELPER_TIMEOUT_MS, env: HELPER_ENV });
    child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString("latin1")));
    child.stdout?.on("error", () => {});
    child.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") missing.add("perl");
      resolve(undefined);
    });
    child.once("close", (code) => {
      const m = /^(\d+) (\d+) \d+\n$/.exec(out);
      if (code !== 0 || !m || Number(m[1]) <= 0) return resolve(undefined);
      const uid = Number(m[2]);
      resolve({ uid, ...named(uid), pid: Number(m[1]), basis: "so_peercred" });
    });
  });
}

/** One Unix stream socket in `ss -xpnH` output: its inode, its peer's, and the pids holding it. */
export interface SsSocket {
  inode: number;
  peer: number;
  pids: number[];
}

/** Parses `ss -xpnH` (Netid State Recv-Q Send-Q Local Port Peer Port [users:(...)]), keyed by inode. */
export function parseSs(text: string): Map<number, SsSocket> {
  const sockets = new Map<number, SsSocket>();
  for (const line of text.split("\n")) {
    // The local address is a path (which may hold spaces) or "*"; the peer's is usually "*".
    const m = /^\S+\s+\S+\s+\d+\s+\d+\s+.+?\s+(\d+)\s+\S+\s+(\d+)(?:\s+users:\((.*)\))?\s*$/.exec(line);
    if (!m) continue;
    const pids = [...new Set([...(m[3] ?? "").matchAll(/pid=(\d+)/g)].map((p) => Number(p[1])))];
    sockets.set(Number(m[1]), { inode: Number(m[1]), peer: Number(m[2]), pids });
  }
  return sockets;
}

/** The peer of socket `inode` as `ss` shows it: the one process holding the other end. */
export function peerInSs(sockets: ReadonlyMap<number, SsSocket>, inode: number): number | undefined {
  const mine = sockets.get(inode);
  const theirs = mine && mine.peer > 0 ? sockets.get(mine.peer) : undefined;
  return theirs?.pids.length === 1 ? theirs.pids[0] : undefined;
}

/** The peer of socket `inode` by iproute2's ss (sock_diag underneath), its uid from /proc. */
export function peerBySs(inode: number): Promise<Peer | undefined> {
  if (missing.has("ss")) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile("ss", ["-xpnH"], { timeout: HELPER_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, env: HELPER_ENV }, (err, stdout) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") missing.add("ss");
        return resolve(undefined);
      }
      const pid = peerInSs(parseSs(stdout), inode);
      const uid = pid === undefined ? undefined : uidOfProcess(pid);
      resolve(pid === undefined || uid === undefined ? undefined : { uid, ...named(uid), pid, basis: "ss" });
    });
  });
}

/** One connection's peer: looked up the first time a call needs it, then kept for the connection's life. */
export class PeerLookup {
  private found: Promise<Peer> | undefined;

  /** `fd` and `inode` of the accepted socket, when known. */
  constructor(
    private readonly fd?: number,
    private readonly inode?: number,
  ) {}

  resolve(): Promise<Peer> {
    this.found ??= (async () => {
      if (process.platform === "linux" && this.fd !== undefined && this.inode !== undefined) {
        const peer = (await peerByPeercred(this.fd, this.inode)) ?? (await peerBySs(this.inode));
        if (peer) return peer;
      }
      return socketOwner();
    })();
    return this.found;
  }
}

const LOOKUP = Symbol("wfctl.peerLookup");

/** Gives an accepted connection its PeerLookup (one fstat; nothing is looked up yet). */
export function watchPeer(socket: net.Socket): void {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  let inode: number | undefined;
  if (typeof fd === "number" && fd >= 0) {
    try {
      inode = fstatSync(fd).ino;
    } catch {
      inode = undefined;
    }
  }
  (socket as unknown as Record<symbol, PeerLookup>)[LOOKUP] = new PeerLookup(inode === undefined ? undefined : (fd as number), inode);
}

/** The PeerLookup of a request's connection (HTTP/1.1 or HTTP/2: the latter's socket is a proxy that reads through). */
export function peerLookupOf(req: { socket?: unknown }): PeerLookup {
  try {
    const found = (req.socket as Record<symbol, PeerLookup | undefined> | undefined)?.[LOOKUP];
    if (found instanceof PeerLookup) return found;
  } catch {
    // An HTTP/2 session already gone: nothing to look up.
  }
  return new PeerLookup();
}

/** The connection's PeerLookup; absent in the in-process transport (--no-daemon), whose client is this process. */
export const connectionPeerKey = createContextKey<PeerLookup | undefined>(undefined, { description: "the connection's peer lookup" });

/** Refuses a peer whose uid the platform gave and that is neither this daemon's user nor root. */
export function refuseForeignPeer(peer: Peer, ownUid = currentUid()): void {
  if (peer.uid === undefined || peer.uid === ownUid || peer.uid === 0) return;
  throw new WfctlError(
    ErrorCode.PERMISSION_DENIED,
    `wfctld (pid ${process.pid}) serves only its own user (${describeUid(ownUid)}) and root; this call came from ${describeUid(peer.uid)}` +
      `${peer.pid ? `, pid ${peer.pid}` : ""} (established by ${peer.basis}). Use a daemon of your own: wfctl starts one for you`,
  );
}

/**
 * Caller.peer for a call on `lookup`'s connection (none: the in-process
 * engine, whose client is this process): establishes the peer when first
 * asked (an audit line is about to be written), and refuses a foreign uid.
 */
export function peerOfCall(lookup: PeerLookup | undefined): () => Promise<Peer> {
  return async () => {
    const peer: Peer = lookup ? await lookup.resolve() : { uid: currentUid(), ...named(currentUid()), pid: process.pid, basis: "in-process" };
    refuseForeignPeer(peer);
    return peer;
  };
}
