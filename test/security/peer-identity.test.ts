// Who is asking, as the daemon knows it (issue 17, item 3): an audit line
// keeps the caller the client claims and records beside it the peer the
// daemon established: the uid and pid of the process at the other end of the
// socket (the wfctl process itself), and how it knows. A process that claims
// to be someone else is recorded as what it is; a process of another uid that
// reaches the socket is refused before anything is pruned. Both ways of
// finding the peer (SO_PEERCRED through perl, and ss) are checked against a
// real connection from another user's process.
import { chmodSync, fstatSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { hostname, userInfo } from "node:os";
import * as net from "node:net";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { describeUid, userNameOf } from "../../proto/private-files.js";
import { daemonFiles } from "../../proto/socket.js";
import { PeerLookup, peerByPeercred, peerBySs, peerOfCall } from "../../daemon/server/peer.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { QUICKSTART, WFCTL, tempDir } from "../helpers/paths.js";
import { NOBODY, requireAnotherUser, node, postFromProcess } from "../helpers/users.js";

const ME = process.getuid?.() ?? 0;

interface AuditLine {
  action: string;
  resource: string;
  caller: string;
  peer?: { uid?: number; user?: string; pid?: number; basis: string };
}

/** Runs wfctl and resolves with its pid and exit code once it has exited. */
function wfctlWithPid(args: readonly string[], env: Record<string, string>): Promise<{ pid: number; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WFCTL, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ pid: child.pid as number, code, stderr }));
  });
}

describe("the audit log records the peer beside the claimed caller", () => {
  const sandbox = cliSandbox("wft-sec-peer-");
  let config: string;
  const audit = () =>
    readFileSync(daemonFiles(sandbox.cli.socket).audit, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as AuditLine);
  /** Makes everything the quickstart declares (again), then deletes a file, so that its record is a ghost the next refresh prunes. */
  const ghost = async () => {
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    // Gone already when a refused refresh left its ghost in state: the apply above does not make it again.
    rmSync(join(sandbox.dir, "out", "site", "robots.txt"), { force: true });
  };

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, readFileSync(join(QUICKSTART, "infra.yaml"), "utf8"));
  });

  it("an audited apply records the wfctl process's own uid and pid, beside the user@host it claims", async () => {
    await ghost();
    const apply = await wfctlWithPid(["infra", "apply", "-c", config, "--refresh", "--auto-approve"], { WFCTL_SOCKET: sandbox.cli.socket });
    expect(apply.code, apply.stderr).toBe(0);
    const line = audit().at(-1);
    expect(line).toMatchObject({ action: "prune", resource: "robots", caller: `${userInfo().username}@${hostname()}` });
    expect(line?.peer).toMatchObject({ uid: ME, pid: apply.pid });
    expect(["so_peercred", "ss"]).toContain(line?.peer?.basis);
    if (userNameOf(ME)) expect(line?.peer?.user).toBe(userNameOf(ME));
  });

  it("a caller that claims to be someone else is recorded as claimed, and the peer as what it is", async () => {
    await ghost();
    const forged = await postFromProcess(sandbox.cli.socket, "Refresh", {
      target: { configPath: config },
      caller: { user: "alice@ci-runner-99", pid: 1, command: "wfctl infra refresh" },
    });
    expect(forged.status, JSON.stringify(forged.json)).toBe(200);
    const line = audit().at(-1);
    expect(line).toMatchObject({ action: "prune", resource: "robots", caller: "alice@ci-runner-99" });
    expect(line?.peer).toMatchObject({ uid: ME, pid: forged.pid });
    expect(forged.pid).not.toBe(1);
  });

  it("a process of another uid that reaches the socket is refused (PERMISSION_DENIED) before anything is pruned", async () => {
    requireAnotherUser();
    await ghost();
    const before = audit().length;
    // Open the way, as a misconfigured socket unit (SocketMode=0666) would; then shut it again.
    const opened = [sandbox.dir, join(sandbox.cli.socket, "..")];
    for (const dir of opened) chmodSync(dir, 0o711);
    chmodSync(sandbox.cli.socket, 0o666);
    let refused: Awaited<ReturnType<typeof postFromProcess>>;
    try {
      refused = await postFromProcess(sandbox.cli.socket, "Refresh", { target: { configPath: config }, caller: { user: "root@elsewhere", pid: 1 } }, NOBODY);
    } finally {
      chmodSync(sandbox.cli.socket, 0o600);
      for (const dir of opened) chmodSync(dir, 0o700);
    }
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ code: "permission_denied" });
    expect(String(refused.json["message"])).toContain(`this call came from ${describeUid(NOBODY.uid)}, pid ${refused.pid}`);
    expect(audit()).toHaveLength(before);
    const { value } = await sandbox.cli.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config]);
    expect(value.resources.map((r) => r.name)).toContain("robots");
  });

  it("with --no-daemon, the peer is the wfctl process itself", async () => {
    await ghost();
    const apply = await wfctlWithPid(["infra", "apply", "-c", config, "--refresh", "--auto-approve", "--no-daemon"], { WFCTL_SOCKET: sandbox.cli.socket });
    expect(apply.code, apply.stderr).toBe(0);
    expect(audit().at(-1)).toMatchObject({ action: "prune", resource: "robots", peer: { uid: ME, pid: apply.pid, basis: "in-process" } });
  });
});

describe("finding the peer of a connection", () => {
  beforeAll(requireAnotherUser);
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A connection accepted from a process of `nobody` that stays connected: the accepted socket and the process. */
  async function connectionFromNobody() {
    const temp = tempDir("wft-sec-");
    cleanups.push(temp.cleanup);
    chmodSync(temp.path, 0o711);
    const path = join(temp.path, "s.sock");
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    chmodSync(path, 0o666);
    const client = node(
      `const c = require("node:net").connect(process.argv[1], () => console.log("connected")); c.on("error", () => {}); process.stdin.on("end", () => process.exit(0)); process.stdin.resume();`,
      [path],
      NOBODY,
    );
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(() => client.child.stdin?.end());
    const socket = await accepted;
    cleanups.push(() => socket.destroy());
    await client.out.next((l) => l === "connected", "the connection");
    const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
    return { socket, fd, inode: fstatSync(fd).ino, pid: client.child.pid as number };
  }

  it("SO_PEERCRED (through perl) and ss both name the other user's process", async () => {
    const c = await connectionFromNobody();
    expect(await peerByPeercred(c.fd, c.inode)).toMatchObject({ uid: NOBODY.uid, pid: c.pid, basis: "so_peercred" });
    expect(await peerBySs(c.inode)).toMatchObject({ uid: NOBODY.uid, pid: c.pid, basis: "ss" });
  });

  it("a call on that connection is refused once its peer is asked for; a stale descriptor is never read", async () => {
    const c = await connectionFromNobody();
    await expect(peerOfCall(new PeerLookup(c.fd, c.inode))()).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    // The same descriptor number, said to be another socket (closed and reused): not read as this one.
    expect(await peerByPeercred(c.fd, c.inode + 1)).toBeUndefined();
    // With nothing to go on, the socket's owner (this user) is all that is known, and it is let through.
    await expect(peerOfCall(new PeerLookup())()).resolves.toMatchObject({ uid: ME, basis: "socket-owner" });
  });
});
