// wfctl: the short-lived client. Parses the command line, runs the command
// against the warm daemon (or in-process with --no-daemon), prints results,
// and exits with a code that says what happened.
//
// Start-up is most of a short command's time, so this module loads only
// commander and what every command needs: each command's module (and with it
// the protobuf descriptors, the Connect client, the output code) is imported
// when that command runs, and error reporting when there is an error.
import { commandWords } from "./command-words.js";
import { Command, CommanderError } from "commander";
import type { LockInfo } from "../proto/lock-info.js";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { ROOT_CONTEXT, SpanKind, initTelemetry } from "../proto/telemetry.js";
import { WFCTL_VERSION } from "../proto/versions.js";
import { setCommandContext } from "./trace.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";
import { interruptionOf } from "./interrupts.js";
import { installFetchHeaders } from "../proto/fetch-headers.js";

// Connect keeps request and response headers in the fetch API's Headers:
// ours, so that no command pays for loading Node's fetch (40 ms of CPU).
installFetchHeaders();

const wantsJson = process.argv.includes("--json");
// A reader that goes away (`wfctl … | head`) makes writes fail with EPIPE: the
// command still runs to its end and exits with its own code, printing nothing more.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

/** Resolves once everything written to `stream` so far is handed to the OS (or the reader is gone). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0 || stream.destroyed) return resolve();
    // Called with an error too, when the reader went away: nothing more to wait for.
    stream.write("", () => resolve());
  });
}

/** A lock in --json output. */
function lockJson(lock: LockInfo): Record<string, unknown> {
  const { lockId, resourceId, holder, operation, createdAt, version, host, pid, daemonPid } = lock;
  return { lock_id: lockId, resource_id: resourceId, holder, operation, created_at: createdAt, version, host: host ?? "", pid: pid ?? 0, daemon_pid: daemonPid ?? 0 };
}

async function report(err: unknown): Promise<number> {
  const [{ fromConnectError }, { errorAnnotations, underGitHubActions }] = await Promise.all([import("../proto/connect-errors.js"), import("./github.js")]);
  const error = fromConnectError(err);
  // Under GitHub Actions, an annotation on the file and line (or the job) first.
  if (underGitHubActions()) for (const line of errorAnnotations(error.message, error.details)) process.stderr.write(line);
  process.stderr.write(`Error: ${error.message}\n`);
  if (wantsJson) {
    // One line, so that it also ends the JSON-lines output of an operation. Details are the first
    // problems found; `omitted` counts the others (the message says "… and N more" too); `lock`, the lock a LOCK_HELD names.
    const omitted = error.omitted > 0 ? { omitted: error.omitted } : {};
    const lock = error.lock ? { lock: lockJson(error.lock) } : {};
    process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message, details: error.details, ...omitted, ...lock } })}\n`);
  }
  return exitCodeFor(error.code);
}

async function run(code: Promise<number>): Promise<void> {
  let exit: number;
  try {
    exit = await code;
  } catch (err) {
    exit = await report(err);
  }
  process.exitCode = exit;
}

const program = new Command()
  .name("wfctl")
  .description("Infrastructure as code through a warm plugin-host daemon (wfctld).")
  .version(WFCTL_VERSION);
type Run = (code: Promise<number>) => Promise<void>;
/** The top-level commands, in the order help lists them, each built by its module when loaded. */
const commands: readonly (readonly [string, () => Promise<(run: Run) => Command>])[] = [
  ["infra", async () => (await import("./commands/infra.js")).infraCommand],
  ["deploy", async () => (await import("./commands/deploy.js")).deployCommand],
  ["plugins", async () => (await import("./commands/plugins.js")).pluginsCommand],
  ["daemon", async () => (await import("./commands/daemon.js")).daemonCommand],
];
/**
 * The commands commander needs to see for this command line: none for a bare
 * `--version` (commander answers it before looking at commands); only the one
 * named when the first argument names a command; otherwise all of them (help,
 * `help <command>`, a flag before the command, an unknown command and its
 * suggestions: what commander does then may depend on every command).
 */
function needed(args: readonly string[]): readonly (typeof commands)[number][] {
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) return [];
  const named = commands.find(([name]) => name === args[0]);
  return named ? [named] : commands;
}

// Settings are not inherited by commands built apart and added: apply them everywhere.
const configure = (command: Command): void => {
  command.exitOverride().showHelpAfterError("(run with --help for usage)");
  command.commands.forEach(configure);
};

/**
 * Runs the command line and exits. A function rather than top-level code:
 * the bundle is CommonJS (client/bundle.mjs says why), which has no
 * top-level await.
 */
export async function main(): Promise<never> {
  for (const make of await Promise.all(needed(process.argv.slice(2)).map(([, load]) => load()))) program.addCommand(make(run));
  configure(program);
  // What the first Ctrl-C says depends on what the command does: set before it runs.
  program.hook("preAction", async (_program, action) => (await import("./runtime.js")).sayOnInterrupt(interruptionOf(action)));

  // One trace per command (when OTEL_* turns tracing on): its root span is the
  // parent of the daemon's and the plugins' spans.
  const telemetry = await initTelemetry("wfctl");
  const words = commandWords(program, process.argv.slice(2));
  const commandSpan = telemetry.tracer.startSpan(`wfctl ${words.slice(0, 2).join(" ")}`.trim(), {
    kind: SpanKind.CLIENT,
    attributes: { "wfctl.command": words.join(" "), "process.pid": process.pid },
  });
  setCommandContext(trace.setSpan(ROOT_CONTEXT, commandSpan));

  try {
    await program.parseAsync();
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successes; anything else commander rejects is a usage error.
      process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    } else {
      process.exitCode = await report(err);
    }
  }
  commandSpan.setAttribute("process.exit_code", Number(process.exitCode ?? EXIT.OK));
  if ((process.exitCode ?? 0) !== 0 && process.exitCode !== EXIT.CHANGES) commandSpan.setStatus({ code: SpanStatusCode.ERROR });
  commandSpan.end();
  await telemetry.shutdown();
  // Exit now rather than waiting for idle keep-alive sockets to time out; but
  // only once stdout and stderr are written out: to a pipe, writes are
  // asynchronous, and exiting drops what is queued (a 68 MiB plan lost all but
  // its first 3 MiB, summary included).
  await Promise.all([process.stdout, process.stderr].map(flushed));
  process.exit(process.exitCode ?? EXIT.OK);
}
