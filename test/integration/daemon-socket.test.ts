// The daemon's socket, served by the real wfctld process: private permissions,
// one daemon per socket, stale sockets replaced, both HTTP/1.1 (Connect JSON,
// what curl speaks) and HTTP/2 (gRPC) on the same socket, version checks, and
// idle shutdown.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../../proto/errors.js";
import { daemonFiles } from "../../proto/socket.js";
import { daemonAlive } from "../../daemon/server/socket.js";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { callUnary, connect } from "../../proto/grpc.js";
import { CLIENT_BUILD_HEADER, CLIENT_VERSION_HEADER, WFCTL_BUILD, WFCTL_VERSION } from "../../proto/versions.js";
import { WFCTLD, tempDir } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";

interface Started {
  child: ChildProcess;
  socket: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

const running: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
  }
  for (const c of cleanups.splice(0)) c();
});

function socketIn(sub = "run"): string {
  const dir = tempDir("wft-d-");
  cleanups.push(dir.cleanup);
  return join(dir.path, sub, "wfctld.sock");
}

function startDaemon(socket: string, args: string[] = []): Started {
  const child = spawn(process.execPath, [WFCTLD, "--socket", socket, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, socket, stderr: () => stderr, exit };
}

async function ready(d: Started): Promise<void> {
  await waitFor(async () => {
    if (d.child.exitCode !== null) throw new Error(`wfctld exited early (${d.child.exitCode}): ${d.stderr()}`);
    return existsSync(d.socket) && (await post(d.socket, "Status", {}).then(() => true, () => false));
  }, 15_000, "wfctld to serve its socket");
}

/** A Connect unary call in JSON over HTTP/1.1, as `curl --unix-socket` would make it. */
function post(socket: string, method: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      {
        socketPath: socket,
        method: "POST",
        path: `/${DaemonService.typeName}/${method}`,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...headers },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`not JSON (HTTP ${res.statusCode}): ${text}`));
          }
        });
      },
    );
    req.once("error", reject);
    req.end(payload);
  });
}

describe("wfctld socket", () => {
  it("creates a 0600 socket inside a directory only the user can enter, with its pid file beside it", async () => {
    const d = startDaemon(socketIn("private/deeper"));
    await ready(d);
    expect(statSync(d.socket).isSocket()).toBe(true);
    expect(statSync(d.socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(d.socket, "..")).mode & 0o777).toBe(0o700);
    const files = daemonFiles(d.socket);
    expect(readFileSync(files.pid, "utf8").trim()).toBe(String(d.child.pid));
    expect(statSync(files.log).mode & 0o777).toBe(0o600);
    d.child.kill("SIGTERM");
    expect(await d.exit).toBe(0);
    expect(existsSync(d.socket)).toBe(false);
    expect(existsSync(files.pid)).toBe(false);
  });

  it("serves Connect JSON over HTTP/1.1 and gRPC over HTTP/2 on the same socket", async () => {
    const d = startDaemon(socketIn());
    await ready(d);
    const status = await post(d.socket, "Status", {});
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({ version: WFCTL_VERSION, pid: d.child.pid });

    const connection = connect(`unix://${d.socket}`);
    try {
      const viaGrpc = await callUnary(connection, DaemonService.method.status, {}, { deadline: new Date(Date.now() + 5000) });
      expect(viaGrpc.version).toBe(WFCTL_VERSION);
      expect(viaGrpc.pid).toBe(d.child.pid);
      const plugins = await callUnary(connection, DaemonService.method.listPlugins, {}, { deadline: new Date(Date.now() + 5000) });
      expect(plugins.plugins.map((p) => p.name)).toContain("local");
    } finally {
      connection.close();
    }
  });

  it("answers curl: ListPlugins as JSON over the Unix socket", async () => {
    const d = startDaemon(socketIn());
    await ready(d);
    const { stdout } = await promisify(execFile)("curl", [
      "-sS",
      "--fail-with-body",
      "--unix-socket",
      d.socket,
      "-H",
      "Content-Type: application/json",
      "-d",
      "{}",
      `http://localhost/${DaemonService.typeName}/ListPlugins`,
    ]);
    const body = JSON.parse(stdout) as { plugins: { name: string; kind: string; state: string }[] };
    expect(body.plugins).toEqual(expect.arrayContaining([expect.objectContaining({ name: "local", kind: "provider", state: "not_started" })]));
  });

  it("Cancel of an operation that is not running answers NOT_FOUND naming it, over Connect and gRPC", async () => {
    const d = startDaemon(socketIn());
    await ready(d);
    const answer = await post(d.socket, "Cancel", { operationId: "no-such-operation" });
    expect(answer.status).toBe(404);
    expect(answer.json).toMatchObject({
      code: "not_found",
      message: "no operation no-such-operation is running: it may have finished; `wfctl daemon status` lists those running",
    });
    const connection = connect(`unix://${d.socket}`);
    try {
      const call = callUnary(connection, DaemonService.method.cancel, { operationId: "no-such-operation" }, { deadline: new Date(Date.now() + 5000) });
      await expect(call).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND, message: expect.stringContaining("no operation no-such-operation is running") });
    } finally {
      connection.close();
    }
  });

  it("refuses a client of another build of the same version (an upgrade in place), naming both builds, but still answers Status", async () => {
    expect(WFCTL_BUILD, "the test setup's build writes dist/build-id").toMatch(/^[0-9a-f-]{36}$/);
    const d = startDaemon(socketIn());
    await ready(d);
    const other = "00000000-0000-4000-8000-000000000000";
    const headers = { [CLIENT_VERSION_HEADER]: WFCTL_VERSION, [CLIENT_BUILD_HEADER]: other };
    const refused = await post(d.socket, "ListPlugins", {}, headers);
    expect(refused.status).not.toBe(200);
    expect(refused.json["code"]).toBe("failed_precondition");
    const message = String(refused.json["message"]);
    expect(message).toContain(`wfctl ${WFCTL_VERSION} (build ${other}) cannot use wfctld ${WFCTL_VERSION} (pid ${d.child.pid}, build ${WFCTL_BUILD})`);
    expect(message).toContain("wfctl daemon stop");
    expect((await post(d.socket, "Status", {}, headers)).status).toBe(200);
    const same = await post(d.socket, "ListPlugins", {}, { [CLIENT_VERSION_HEADER]: WFCTL_VERSION, [CLIENT_BUILD_HEADER]: WFCTL_BUILD });
    expect(same.status).toBe(200);
  });

  it("refuses a client of another version with a message saying what to do, but still answers Status", async () => {
    const d = startDaemon(socketIn());
    await ready(d);
    const refused = await post(d.socket, "ListPlugins", {}, { [CLIENT_VERSION_HEADER]: "0.0.0-old" });
    expect(refused.status).not.toBe(200);
    expect(String(refused.json["message"])).toContain(`wfctl 0.0.0-old cannot use wfctld ${WFCTL_VERSION}`);
    expect(String(refused.json["message"])).toContain("wfctl daemon stop");
    const connection = connect(`unix://${d.socket}`);
    try {
      await expect(
        callUnary(connection, DaemonService.method.listPlugins, {}, { metadata: { [CLIENT_VERSION_HEADER]: "0.0.0-old" } }),
      ).rejects.toMatchObject({ code: ErrorCode.VERSION_MISMATCH });
    } finally {
      connection.close();
    }
    const status = await post(d.socket, "Status", {}, { [CLIENT_VERSION_HEADER]: "0.0.0-old" });
    expect(status.status).toBe(200);
  });

  it("refuses to start a second daemon on a live socket, naming the first", async () => {
    const first = startDaemon(socketIn());
    await ready(first);
    const second = startDaemon(first.socket);
    expect(await second.exit).toBe(1);
    expect(second.stderr()).toContain(`wfctld is already running for ${first.socket} (pid ${first.child.pid})`);
    expect(isAlive(first.child.pid as number)).toBe(true);
    expect((await post(first.socket, "Status", {})).status).toBe(200);
  });

  it("replaces a stale socket and pid file left by a daemon that was killed", async () => {
    const first = startDaemon(socketIn());
    await ready(first);
    first.child.kill("SIGKILL");
    await first.exit;
    expect(existsSync(first.socket)).toBe(true); // left behind: nobody cleaned up
    writeFileSync(daemonFiles(first.socket).pid, `${first.child.pid}\n`);

    const second = startDaemon(first.socket);
    await ready(second);
    expect((await post(second.socket, "Status", {})).json).toMatchObject({ pid: second.child.pid });
  });

  it("takes over a pid file naming a zombie or a pid now used by another program", async () => {
    // A zombie: `sleep 0` exits, and its parent (exec'd into `sleep 300`, killed after the test) never reaps it.
    const shell = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 300"], { stdio: ["ignore", "pipe", "ignore"] });
    running.push(shell);
    const zombie = Number((await new Promise<Buffer>((r) => shell.stdout?.once("data", r))).toString().trim());
    await waitFor(() => readFileSync(`/proc/${zombie}/stat`, "utf8").includes(") Z"), 5000, "the zombie");
    expect(() => process.kill(zombie, 0)).not.toThrow(); // a zombie still has its pid...
    expect(daemonAlive(zombie)).toBe(false); // ...but it is no daemon
    expect(daemonAlive(process.pid)).toBe(false); // a live pid that is not wfctld

    for (const pid of [zombie, process.pid]) {
      const socket = socketIn();
      mkdirSync(join(socket, ".."), { recursive: true, mode: 0o700 });
      writeFileSync(daemonFiles(socket).pid, `${pid}\n`);
      const d = startDaemon(socket);
      await ready(d);
      expect(readFileSync(daemonFiles(socket).pid, "utf8").trim()).toBe(String(d.child.pid));
      expect(daemonAlive(d.child.pid as number)).toBe(true);
    }
  });

  it("refuses a socket path too long for a Unix socket, naming it", async () => {
    const dir = tempDir("wft-d-");
    cleanups.push(dir.cleanup);
    const deep = join(dir.path, "x".repeat(60), "y".repeat(60));
    mkdirSync(deep, { recursive: true });
    const d = startDaemon(join(deep, "wfctld.sock"));
    expect(await d.exit).toBe(1);
    expect(d.stderr()).toContain("longer than the 107 a Unix socket allows");
  });

  it("exits by itself after its idle timeout", async () => {
    const d = startDaemon(socketIn(), ["--idle-timeout", "1s"]);
    await ready(d);
    expect(await d.exit).toBe(0);
    expect(existsSync(d.socket)).toBe(false);
  });
});
