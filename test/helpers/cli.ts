// Runs the real wfctl executable as a user would, with its own daemon socket.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { WFCTL, tempDir } from "./paths.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Written to stdin, then closed (stdin is never a TTY here). */
  input?: string;
  timeoutMs?: number;
}

/** Asserts the exit code, showing both streams when it is not the one expected. */
export function expectExit(result: CliResult, code: number): void {
  expect(result.code, `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`).toBe(code);
}

/** A wfctl bound to one socket, so each test file has its own daemon. */
export class Cli {
  constructor(readonly socketDir: string) {}

  get socket(): string {
    return join(this.socketDir, "wfctld.sock");
  }

  run(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
    return runWfctl(args, { ...options, env: { WFCTL_SOCKET: this.socket, ...options.env } });
  }

  /** Runs an operation with --json and parses its events (see parseEvents). */
  async events<T = unknown>(args: readonly string[], options: CliOptions = {}): Promise<{ result: CliResult; events: JsonEvent[]; summary: JsonEvent; report: T }> {
    const result = await this.run([...args, "--json"], options);
    return { result, ...parseEvents<T>(result, `wfctl ${args.join(" ")}`) };
  }

  /** Runs and parses stdout as JSON. */
  async json<T = unknown>(args: readonly string[], options: CliOptions = {}): Promise<{ result: CliResult; value: T }> {
    const result = await this.run([...args, "--json"], options);
    let value: T;
    try {
      value = JSON.parse(result.stdout) as T;
    } catch {
      throw new Error(`wfctl ${args.join(" ")} --json printed no JSON (exit ${result.code}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
    }
    return { result, value };
  }
}

/** One line of an operation's --json output (client/progress.ts). */
export interface JsonEvent {
  type: string;
  time: string;
  elapsed_ms: number;
  operation_id: string;
  sequence: number;
  resource?: { name: string; type: string };
  action?: string;
  duration_ms?: number;
  error?: { code: string; message: string };
  reason?: string;
  [key: string]: unknown;
}

/**
 * Parses the --json output of an operation (plan, apply, destroy, refresh,
 * teardown): one JSON object per line, the last the summary, whose `result`
 * is the command's report.
 */
export function parseEvents<T>(result: CliResult, what: string): { events: JsonEvent[]; summary: JsonEvent; report: T } {
  const lines = result.stdout.split("\n").filter((line) => line.trim() !== "");
  let events: JsonEvent[];
  try {
    events = lines.map((line) => JSON.parse(line) as JsonEvent);
  } catch {
    throw new Error(`${what} --json printed a line that is not JSON (exit ${result.code}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  // The summary is last, but for the sinks an apply writes after it.
  const summary = events.at(-1)?.type === "sinks" ? events.at(-2) : events.at(-1);
  if (summary?.type !== "summary") throw new Error(`${what} --json did not end with a summary (exit ${result.code}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return { events, summary, report: summary["result"] as T };
}

export function runWfctl(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return runProgram(process.execPath, [WFCTL, ...args], { ...options, env: { ...process.env, ...options.env } });
}

/**
 * Runs `command` (a path, or a name looked up on `options.env.PATH`) with
 * exactly the environment `options.env`, and collects its output.
 */
export function runProgram(command: string, args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? {},
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not finish within ${options.timeoutMs ?? 45_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 45_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/**
 * A temporary directory and a wfctl with its own daemon socket inside it, for
 * one describe block: made before its tests, and after them the daemon is
 * stopped and the directory removed. Read `dir` and `cli` inside tests only.
 */
export function cliSandbox(prefix = "wft-e2e-"): { readonly dir: string; readonly cli: Cli } {
  let temp: ReturnType<typeof tempDir> | undefined;
  let cli: Cli | undefined;
  beforeAll(() => {
    temp = tempDir(prefix);
    cli = new Cli(join(temp.path, "sock"));
  });
  afterAll(async () => {
    await cli?.run(["daemon", "stop"]);
    temp?.cleanup();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("cliSandbox is only ready inside tests");
    return value;
  };
  return {
    get dir() {
      return ready(temp).path;
    },
    get cli() {
      return ready(cli);
    },
  };
}
