// What every command shares: the common flags, a connection to the daemon
// (or the in-process engine), the caller's identity, Ctrl-C, and output.
import { randomUUID } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { resolve } from "node:path";
import type { CallOptions } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { fromConnectError } from "../proto/connect-errors.js";
import { parseDuration } from "../proto/duration.js";
import { ErrorCode, WfctlError, codeFromWire } from "../proto/errors.js";
import { type CallerSchema, type OperationSchema, Outcome, type TargetSchema } from "../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { socketPath } from "../proto/socket.js";
import { type Connection, connectDaemon, connectInProcess } from "./connection.js";
import { maskSensitiveValues, underGitHubActions } from "./github.js";
import { type ProgressHooks, progressMode, withProgress } from "./progress.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import type { Interruption } from "./interrupts.js";

/** Flags every command that talks to the engine takes. */
export interface CommonOptions {
  json?: boolean;
  /** false with --no-daemon. */
  daemon: boolean;
  socket?: string;
  timeout?: string;
}

/** Flags of commands about one configuration. */
export interface TargetOptions extends CommonOptions {
  config: string;
  env?: string;
  /** --var name=value (repeatable), as given. */
  var?: string[];
  /** --var-file (repeatable). */
  varFile?: string[];
}

/** Cancelled on the first Ctrl-C (the operation stops cleanly); the second exits at once. */
export const interrupt = new AbortController();
let interrupted = false;
/** What the first Ctrl-C says it stops: set for each command before it runs (client/interrupts.ts). */
let interruption: Interruption = { line: "stopping", waits: false };
process.on("SIGINT", () => {
  if (interrupted) process.exit(EXIT.CANCELLED);
  interrupted = true;
  process.stderr.write(`\nInterrupt received: ${interruption.line}.${interruption.waits ? " Press Ctrl-C again to quit now." : ""}\n`);
  interrupt.abort(new DOMException("interrupted", "AbortError"));
});

/** Sets what the first Ctrl-C says it stops (main.ts, from the command about to run). */
export function sayOnInterrupt(what: Interruption): void {
  interruption = what;
}

export function out(text: string): void {
  process.stdout.write(text);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** How much longer than its own budget the client waits for an operation's report. */
export const REPORT_GRACE_MS = 30_000;

/** --timeout in ms: at most what a timer can wait (2^31 − 1 ms) with the report's grace; a longer one would fire at once. */
function timeoutFlag(text: string): number {
  const ms = parseDuration(text, "--timeout");
  const max = 2 ** 31 - 1 - REPORT_GRACE_MS;
  if (ms > max) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `--timeout: "${text}" is longer than the ${Math.floor(max / 3_600_000)}h allowed`);
  return ms;
}

/**
 * Asks the daemon to cancel operation `id` (Ctrl-C). NOT_FOUND means it is no
 * longer running: it ended just before, and its call brings the report as
 * usual, so that is no error. Any other failure is said on stderr.
 */
export async function cancelOperation(connection: Connection, id: string): Promise<void> {
  try {
    await connection.client.cancel({ operationId: id }, { timeoutMs: 10_000 });
  } catch (err) {
    const error = fromConnectError(err);
    if (error.code !== ErrorCode.NOT_FOUND) process.stderr.write(`could not cancel the operation: ${error.message}\n`);
  }
}

/**
 * A stoppable operation (apply, destroy): the client picks its id and gives
 * the daemon its time budget; Ctrl-C asks the daemon to Cancel it instead of
 * dropping the call, so the report of what was and was not done still comes
 * back. A second Ctrl-C quits at once; the operation goes on in the daemon
 * (a client that disconnects does not stop it) unless the Cancel got through.
 */
export function stoppableOperation(
  opts: CommonOptions,
  connection: Connection,
): { operation: MessageInitShape<typeof OperationSchema>; options: CallOptions; done: () => void } {
  const id = randomUUID();
  const budget = opts.timeout ? timeoutFlag(opts.timeout) : 0;
  // cancelOperation says its own failures; it does not reject.
  const onInterrupt = () => cancelOperation(connection, id).catch(() => {});
  interrupt.signal.addEventListener("abort", onInterrupt, { once: true });
  return {
    operation: { id, timeoutMs: BigInt(budget) },
    options: budget > 0 ? { timeoutMs: budget + REPORT_GRACE_MS } : {},
    done: () => interrupt.signal.removeEventListener("abort", onInterrupt),
  };
}

/**
 * Runs `call` as a stoppable operation named `operation` while its progress
 * streams (client/progress.ts). With --json the events are the output: the
 * last line is the summary, with `jsonReport` of the response as its `result`,
 * so the caller prints nothing more in that mode.
 */
export async function runOperation<R>(
  opts: CommonOptions,
  connection: Connection,
  operation: string,
  call: (operation: MessageInitShape<typeof OperationSchema>, options: CallOptions) => Promise<R>,
  jsonReport: (response: R) => unknown,
  hooks: ProgressHooks = {},
): Promise<R> {
  const op = stoppableOperation(opts, connection);
  try {
    return await withProgress(connection, progressMode(opts), operation, op.operation.id as string, () => call(op.operation, op.options), jsonReport, hooks);
  } finally {
    op.done();
  }
}

/** What a stoppable operation's report comes to: resources that did not succeed, and why it stopped early (if it did). */
export interface StoppableReport {
  results: readonly { outcome: Outcome }[];
  stoppedCode: string;
  stoppedReason: string;
}

export function reportOf(response: StoppableReport): { failed: number; stopped: ErrorCode | undefined } {
  return {
    failed: response.results.filter((r) => r.outcome !== Outcome.SUCCEEDED).length,
    stopped: response.stoppedCode ? codeFromWire(0, response.stoppedCode) : undefined,
  };
}

/** The exit code of a report, saying on stderr why `what` stopped early if it did. */
export function exitOf(response: StoppableReport, what: string): number {
  const { failed, stopped } = reportOf(response);
  if (stopped) {
    process.stderr.write(`Error: ${what} stopped before finishing: ${response.stoppedReason}\n`);
    return exitCodeFor(stopped);
  }
  return failed === 0 ? EXIT.OK : EXIT.ERROR;
}

export function callOptions(opts: CommonOptions): CallOptions {
  const options: CallOptions = { signal: interrupt.signal };
  if (opts.timeout) options.timeoutMs = timeoutFlag(opts.timeout);
  return options;
}

export function target(opts: TargetOptions): MessageInitShape<typeof TargetSchema> {
  return {
    configPath: resolve(opts.config),
    env: opts.env ?? "",
    variables: Object.fromEntries((opts.var ?? []).map(splitVariable)),
    variableFiles: (opts.varFile ?? []).map((file) => resolve(file)),
    // environment: filled by the connection (client/step-environment.ts), WFCTL_VAR_* included.
  };
}

/** "name=value" as --var gives it (checked by its parser). */
function splitVariable(assignment: string): [string, string] {
  const at = assignment.indexOf("=");
  return [assignment.slice(0, at), assignment.slice(at + 1)];
}

export function caller(command: string): MessageInitShape<typeof CallerSchema> {
  return { user: `${userInfo().username}@${hostname()}`, pid: process.pid, command };
}

/**
 * Like withConnection, for a command about one configuration: under GitHub
 * Actions, every sensitive value of the target is first registered with
 * ::add-mask::, before the command prints anything.
 */
export async function withTarget<T>(opts: TargetOptions, command: string, fn: (connection: Connection) => Promise<T>): Promise<T> {
  return withConnection(opts, async (connection) => {
    if (underGitHubActions()) await maskSensitiveValues(connection, target(opts), caller(command));
    return fn(connection);
  });
}

/** Runs `fn` against the daemon (started if needed) or, with --no-daemon, the in-process engine. */
export async function withConnection<T>(opts: CommonOptions, fn: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = opts.daemon ? await connectDaemon(socketPath(opts.socket)) : await connectInProcess(opts.socket);
  try {
    return await fn(connection);
  } finally {
    await connection.close();
  }
}
