// A real wfctld started with the flags a test needs (short connection bounds,
// a small configuration limit), and a poller that asks it for Status the
// whole time a test inflicts something on it: how long each answer took is
// what "the daemon keeps serving" means. And a wfctld run until it exits,
// for tests of whether it starts. And a Connect client of its API.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { status } from "../faults/fuzz-wire.js";
import { WFCTLD, tempDir } from "./paths.js";
import { waitFor } from "./processes.js";

export interface StartedDaemon {
  socket: string;
  dir: string;
  pid: number;
  /** What it wrote to stderr (its log, with --log-file -). */
  output(): string;
  /** Stops it (SIGTERM, then waits) and removes its directory. */
  stop(): Promise<void>;
}

/** A client of the daemon API on `socket`, as the CLI talks to it (Connect, binary, HTTP/1.1), without the CLI's interceptors. */
export function daemonClient(socket: string): Client<typeof DaemonService> {
  return createClient(DaemonService, createConnectTransport({ baseUrl: "http://wfctld", httpVersion: "1.1", nodeOptions: { socketPath: socket } }));
}

/** Starts wfctld on a socket in a fresh directory, with `flags` and environment `env` (this process's by default); resolves once Status answers. */
export async function startWfctld(flags: string[] = [], prefix = "wft-d-", env: NodeJS.ProcessEnv = process.env): Promise<StartedDaemon> {
  const temp = tempDir(prefix);
  const socket = join(temp.path, "wfctld.sock");
  const child: ChildProcess = spawn(process.execPath, [WFCTLD, "--socket", socket, "--log-file", "-", ...flags], { stdio: ["ignore", "ignore", "pipe"], env });
  let output = "";
  child.stderr?.on("data", (c: Buffer) => {
    if (output.length < 4 * 1024 * 1024) output += c.toString("utf8");
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`wfctld exited early (${child.exitCode}): ${output}`);
    return existsSync(socket) && (await status(socket).then(() => true, () => false));
  }, 20_000, "wfctld to serve its socket");
  return {
    socket,
    dir: temp.path,
    pid: child.pid as number,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      temp.cleanup();
    },
  };
}

/** One Status call (Connect JSON over HTTP/1.1, a connection of its own); rejects saying why it got no answer. */
function statusOnce(socket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socket, method: "POST", path: "/wfctl.daemon.v1.DaemonService/Status", headers: { "content-type": "application/json", "content-length": "2" }, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`Status answered HTTP ${res.statusCode}`))));
        res.on("error", (err) => reject(err));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("Status did not answer within 10 s")));
    req.on("error", (err: NodeJS.ErrnoException) => reject(new Error(`Status failed: ${err.message}${err.code ? ` (${err.code})` : ""}`)));
    req.end("{}");
  });
}

/** What a StatusPoller saw. */
export interface PollReport {
  /** Status calls answered. */
  answered: number;
  /** Status calls that failed (no answer, or not HTTP 200), with why. */
  failures: string[];
  /** The slowest answer, in ms. */
  maxMs: number;
  /** When each call was answered (ms since epoch), with how long it took. */
  answers: { at: number; ms: number }[];
}

/**
 * Asks the daemon for Status over its socket (Connect JSON, as curl does),
 * one call after another with `gapMs` between them, until stopped. Each call
 * has 10 s to answer.
 */
export class StatusPoller {
  private stopped = false;
  private readonly report: PollReport = { answered: 0, failures: [], maxMs: 0, answers: [] };
  private readonly done: Promise<void>;
  private wake: (() => void) | undefined;

  constructor(
    private readonly socket: string,
    private readonly gapMs = 100,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      try {
        await statusOnce(this.socket);
        const ms = Date.now() - started;
        this.report.answered++;
        this.report.maxMs = Math.max(this.report.maxMs, ms);
        this.report.answers.push({ at: Date.now(), ms });
      } catch (err) {
        this.report.failures.push(`${(err as Error).message} (asked at ${new Date(started).toISOString()})`);
      }
      if (this.stopped) break;
      // The gap between calls: cut short by stop().
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.gapMs);
      });
    }
  }

  /** Status answers between `from` and `to` (ms since epoch). */
  answeredBetween(from: number, to: number): { at: number; ms: number }[] {
    return this.report.answers.filter((a) => a.at >= from && a.at <= to);
  }

  /** Stops polling; resolves with what it saw once the call in flight (if any) ends. */
  async stop(): Promise<PollReport> {
    this.stopped = true;
    this.wake?.();
    await this.done;
    return this.report;
  }
}

/**
 * Runs wfctld with `args` (and `env` over this process's, with neither
 * XDG_RUNTIME_DIR nor WFCTL_SOCKET unless given) until it exits: its exit
 * code and stderr. For a daemon expected to refuse to start.
 */
export function wfctldUntilExit(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WFCTLD, ...args], {
      env: { ...process.env, XDG_RUNTIME_DIR: undefined, WFCTL_SOCKET: undefined, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stderr }));
  });
}
