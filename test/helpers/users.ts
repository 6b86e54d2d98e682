// A second local user, for tests of what another user can and cannot do:
// `nobody` (uid 65534), which the tests reach by running as root and giving a
// child process that uid. Processes here are real Node processes started
// with `node -e`, so they need no file another user could not read.
import { type ChildProcess, spawn } from "node:child_process";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";

export const NOBODY = { uid: 65534, gid: 65534 } as const;

/**
 * Fails the test, saying why, unless it can act as another user (the tests
 * run as root, as they do in CI). Never a skip: a skipped test proves
 * nothing.
 */
export function requireAnotherUser(): void {
  if (process.getuid?.() !== 0) throw new Error("this test needs root, to act as a second user (uid 65534, nobody): run the suite as root (as CI does)");
}

/** A child process's stdout, line by line, and a way to wait for a line. */
export class Lines {
  readonly lines: string[] = [];
  private buffer = "";
  private waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk: Buffer) => {
      this.buffer += chunk.toString("utf8");
      for (let i = this.buffer.indexOf("\n"); i >= 0; i = this.buffer.indexOf("\n")) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 1);
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.match(line) ? (w.resolve(line), false) : true));
      }
    });
  }

  /** The first line (seen or to come) that `match` accepts; fails if the process exits first. */
  next(match: (line: string) => boolean, what: string): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      this.waiters.push({ match, resolve });
      // "close": after its output is all read, so no line is missed.
      this.child.once("close", (code) => reject(new Error(`the process exited (${code}) before ${what}; its output:\n${this.lines.join("\n")}`)));
    });
  }
}

/** Runs `node -e script args...`, as `user` when given; stderr is kept for failures. */
export function node(script: string, args: readonly string[], user?: { uid: number; gid: number }): { child: ChildProcess; out: Lines; stderr: () => string } {
  const child = spawn(process.execPath, ["-e", script, ...args], { stdio: ["pipe", "pipe", "pipe"], ...(user ?? {}) });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
  return { child, out: new Lines(child), stderr: () => stderr };
}

/**
 * A listener on a Unix socket that records, on its stdout, each connection
 * (`connection N`) and the first bytes it receives (`data N <JSON string>`),
 * then closes it. It prints `listening` once bound, with the socket made
 * 0666 so anyone may connect.
 */
const RECORDER = `
const net = require("node:net");
const fs = require("node:fs");
let n = 0;
const server = net.createServer((socket) => {
  const id = ++n;
  console.log("connection " + id);
  // Recorded, then the connection is closed: no client waits on an answer that never comes.
  socket.on("data", (d) => { console.log("data " + id + " " + JSON.stringify(d.toString("latin1"))); socket.end(); });
  socket.on("error", () => {});
});
server.listen(process.argv[1], () => {
  fs.chmodSync(process.argv[1], 0o666);
  console.log("listening");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/** A socket listener that records every byte it is sent (see RECORDER), started as `user` when given. */
export async function recordingListener(socket: string, user?: { uid: number; gid: number }): Promise<{ child: ChildProcess; out: Lines; stop: () => Promise<void> }> {
  const { child, out, stderr } = node(RECORDER, [socket], user);
  await out.next((l) => l === "listening", `listening on ${socket} (stderr: ${stderr()})`);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.stdin?.end();
    await exited;
  };
  return { child, out, stop };
}

/**
 * Proves what a recording listener received before now: connects itself and
 * sends a marker, waits for the listener to record it, and returns every line
 * recorded before the marker's connection. Connections are accepted in the
 * order they were made, so a connection made earlier (by a command that has
 * exited) is recorded before the marker's. (Its result is [] when nothing came.)
 */
export async function recordedBefore(listener: { out: Lines }, socket: string): Promise<string[]> {
  const marker = `marker-${process.pid}-${Date.now()}`;
  const net = await import("node:net");
  const connection = net.connect(socket, () => connection.end(marker));
  connection.on("error", () => {});
  const line = await listener.out.next((l) => l.endsWith(JSON.stringify(marker)), "the marker reached the listener");
  const id = line.split(" ")[1];
  return listener.out.lines.filter((l) => /^(connection|data) /.test(l) && l !== `connection ${id}` && !l.startsWith(`data ${id} `));
}

/**
 * A process (as `user`, when given) that sends one Connect JSON request to
 * the daemon socket and prints {status, body}: its pid is the peer the daemon
 * sees.
 */
const POSTER = `
const http = require("node:http");
const [socket, method, body] = process.argv.slice(1);
const req = http.request({ socketPath: socket, method: "POST", path: "/${DaemonService.typeName}/" + method,
  headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
  let text = "";
  res.on("data", (c) => (text += c));
  res.on("end", () => { console.log(JSON.stringify({ status: res.statusCode, body: text })); });
});
req.on("error", (err) => { console.log(JSON.stringify({ status: 0, body: err.message })); });
req.end(body);
`;

/** Sends `body` to `method` from a process of its own (as `user`, when given); its pid, and the answer. */
export async function postFromProcess(
  socket: string,
  method: string,
  body: unknown,
  user?: { uid: number; gid: number },
): Promise<{ pid: number; status: number; json: Record<string, unknown> }> {
  const { child, out, stderr } = node(POSTER, [socket, method, JSON.stringify(body)], user);
  const line = await out.next((l) => l.startsWith("{"), `the answer to ${method} (stderr: ${stderr()})`);
  const answer = JSON.parse(line) as { status: number; body: string };
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    json = { raw: answer.body };
  }
  return { pid: child.pid as number, status: answer.status, json };
}
