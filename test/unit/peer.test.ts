// How the daemon reads the peer of a socket connection from ss, and whom it
// refuses (daemon/server/peer.ts), as pure functions: no processes.
import { describe, expect, it } from "vitest";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { parseSs, peerInSs, refuseForeignPeer } from "../../daemon/server/peer.js";

const ME = 1001;

// `ss -xpnH` as iproute2 6.x prints it: the daemon's accepted socket (its
// local address is the socket's path), the client's end (unnamed), a
// listening socket, and a socket shared by two processes.
const SS = [
  "u_str ESTAB 0      0      /run/user/1000/wfctl/wfctld.sock 946109            * 946108  users:((\"node\",pid=30422,fd=21))",
  "u_str ESTAB 0      0                                     * 946108            * 946109  users:((\"node\",pid=31877,fd=20))",
  "u_str LISTEN 0     511    /run/user/1000/wfctl/wfctld.sock 946100            * 0       users:((\"node\",pid=30422,fd=19))",
  "u_str ESTAB 0      0      /tmp/dir with space/s.sock 5001            * 5002",
  "u_str ESTAB 0      0                                     * 5002            * 5001  users:((\"sh\",pid=7,fd=3),(\"sleep\",pid=8,fd=3))",
  "u_str ESTAB 0      0                                     * 6002            * 6001",
  "",
].join("\n");

describe("reading the peer of a socket from ss", () => {
  it("parses each socket's inode, its peer's inode and the pids holding it", () => {
    const sockets = parseSs(SS);
    expect(sockets.get(946109)).toEqual({ inode: 946109, peer: 946108, pids: [30422] });
    expect(sockets.get(946108)).toEqual({ inode: 946108, peer: 946109, pids: [31877] });
    expect(sockets.get(946100)).toEqual({ inode: 946100, peer: 0, pids: [30422] });
    expect(sockets.get(5001)).toEqual({ inode: 5001, peer: 5002, pids: [] });
  });

  it("names the one process at the other end, and none when that is unclear", () => {
    const sockets = parseSs(SS);
    expect(peerInSs(sockets, 946109)).toBe(31877);
    expect(peerInSs(sockets, 5001)).toBeUndefined(); // two processes hold the other end
    expect(peerInSs(sockets, 6002)).toBeUndefined(); // the other end is not listed
    expect(peerInSs(sockets, 946100)).toBeUndefined(); // a listening socket has no peer
    expect(peerInSs(sockets, 123)).toBeUndefined(); // not ours to know
  });
});

describe("refusing a foreign peer", () => {
  it("lets the daemon's own user and root through, and a peer whose uid is unknown", () => {
    expect(() => refuseForeignPeer({ uid: ME, pid: 5, basis: "so_peercred" }, ME)).not.toThrow();
    expect(() => refuseForeignPeer({ uid: 0, pid: 5, basis: "so_peercred" }, ME)).not.toThrow();
    expect(() => refuseForeignPeer({ basis: "socket-owner" }, ME)).not.toThrow();
  });

  it("refuses any other uid with PERMISSION_DENIED naming it, its pid and how it was established", () => {
    let caught: unknown;
    try {
      refuseForeignPeer({ uid: 65534, user: "nobody", pid: 4242, basis: "ss" }, ME);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(WfctlError);
    expect((caught as WfctlError).code).toBe(ErrorCode.PERMISSION_DENIED);
    expect((caught as WfctlError).message).toMatch(/this call came from uid 65534( \(\S+\))?, pid 4242 \(established by ss\)/);
  });
});
