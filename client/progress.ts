// An operation's progress as the daemon streams it (WatchOperation), shown
// three ways: on a terminal, a live line per resource in flight (log-update,
// cli-spinners) above the finished ones; elsewhere, plain timestamped lines;
// with --json, one JSON object per line (like `terraform -json`), ending with
// a summary that carries the command's report. Progress goes to stderr, except
// the JSON events, which are the command's output. The plan an apply is about
// to carry out arrives before its first change: the command prints it then
// (onPlan), so a log reads plan first, progress after.
import type { Connection } from "./connection.js";
import { group, underGitHubActions } from "./github.js";
import { Action, type OperationEvent, type Plan, ResourcePhase } from "../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { actionName } from "./output/plan.js";

export type ProgressMode = "json" | "live" | "plain";

/** How progress is shown: JSON events with --json; live on a terminal (stderr); plain lines otherwise. */
export function progressMode(opts: { json?: boolean }, stream: NodeJS.WriteStream = process.stderr): ProgressMode {
  if (opts.json) return "json";
  return stream.isTTY && process.env["TERM"] !== "dumb" && process.env["CI"] !== "true" ? "live" : "plain";
}

const phaseName: Record<ResourcePhase, string> = {
  [ResourcePhase.UNSPECIFIED]: "unknown",
  [ResourcePhase.PLANNED]: "planned",
  [ResourcePhase.STARTED]: "start",
  [ResourcePhase.FINISHED]: "finish",
  [ResourcePhase.FAILED]: "fail",
  [ResourcePhase.SKIPPED]: "skip",
};

/** One event as a JSON line's object (snake_case, like the rest of wfctl's JSON). */
export function eventJson(event: OperationEvent, operation: string): Record<string, unknown> {
  const head = { time: event.time, elapsed_ms: Number(event.elapsedMs), operation_id: event.operationId, sequence: event.sequence };
  switch (event.event.case) {
    case "started": {
      const s = event.event.value;
      return { type: "operation_start", ...head, operation: s.operation, config: s.target?.configPath ?? "", env: s.target?.env ?? "", caller: s.caller };
    }
    case "resource": {
      const r = event.event.value;
      const out: Record<string, unknown> = { type: `resource_${phaseName[r.phase]}`, ...head, resource: { name: r.name, type: r.type }, action: r.action };
      if (r.phase === ResourcePhase.FINISHED || r.phase === ResourcePhase.FAILED) out["duration_ms"] = Number(r.durationMs);
      if (r.phase === ResourcePhase.FAILED) out["error"] = { code: r.errorCode, message: r.message };
      else if (r.phase === ResourcePhase.SKIPPED) out["reason"] = r.message;
      else if (r.message) out["detail"] = r.message;
      return out;
    }
    case "plan":
      return { type: "plan", ...head, ...planEventJson(event.event.value) };
    case "summary": {
      const s = event.event.value;
      const out: Record<string, unknown> = { type: "summary", ...head, operation, ok: s.ok, planned: s.planned, finished: s.finished, failed: s.failed, skipped: s.skipped };
      if (s.errorCode) out["error"] = { code: s.errorCode, message: s.errorMessage };
      return out;
    }
    default:
      return { type: "unknown", ...head };
  }
}

/** The plan event's one line: what will change, not the field-level diff (the report's plan has that). */
function planEventJson(plan: Plan): Record<string, unknown> {
  const s = plan.summary;
  return {
    destroy: plan.destroy,
    fingerprint: plan.fingerprint,
    summary: { create: s?.create ?? 0, update: s?.update ?? 0, replace: s?.replace ?? 0, delete: s?.delete ?? 0, noop: s?.noop ?? 0 },
    changes: plan.changes
      .filter((c) => c.action !== Action.NOOP)
      .map((c) => ({ name: c.name, type: c.type, action: actionName(c.action), ...(c.reason ? { reason: c.reason } : {}), ...(c.createBeforeDestroy ? { create_before_destroy: true } : {}) })),
    ...(plan.targets.length > 0 ? { targets: plan.targets } : {}),
    ...(plan.warnings.length > 0 ? { warnings: plan.warnings } : {}),
  };
}

const done: Record<string, string> = { create: "created", update: "updated", replace: "replaced", delete: "deleted", read: "read", prune: "pruned" };
const doing: Record<string, string> = { create: "creating", update: "updating", replace: "replacing", delete: "deleting", read: "reading", prune: "pruning" };
const seconds = (ms: bigint | number) => `${(Number(ms) / 1000).toFixed(1)}s`;

/** A line about a resource that settled, or undefined for events shown only live (started, planned). */
function settledLine(event: OperationEvent): string | undefined {
  if (event.event.case !== "resource") return undefined;
  const r = event.event.value;
  const who = `${r.name} (${r.type})`;
  switch (r.phase) {
    case ResourcePhase.FINISHED:
      // A replace's steps finish one by one: "deleted (replace)", "created (replace)".
      if (r.action === "replace" && r.message) return `${who}: ${done[r.message] ?? r.message} (replace) in ${seconds(r.durationMs)}`;
      return `${who}: ${done[r.action] ?? r.action} in ${seconds(r.durationMs)}${r.message && r.action === "read" ? ` (${r.message})` : ""}`;
    case ResourcePhase.FAILED:
      // A state write that failed: the operation stops; the change it belongs to reports on its own.
      if (r.action === "record") return `${who}: ${r.message}`;
      return `${who}: ${r.action} FAILED after ${seconds(r.durationMs)}: ${r.message}`;
    case ResourcePhase.SKIPPED:
      return `${who}: ${r.action} skipped: ${r.message}`;
    default:
      return undefined;
  }
}

function summaryLine(event: OperationEvent, operation: string): string | undefined {
  if (event.event.case !== "summary") return undefined;
  const s = event.event.value;
  const counts = [
    ...Object.entries(s.finished).map(([action, n]) => `${n} ${done[action] ?? action}`),
    ...(s.failed ? [`${s.failed} failed`] : []),
    ...(s.skipped ? [`${s.skipped} skipped`] : []),
  ];
  const what = counts.length > 0 ? counts.join(", ") : `${Object.values(s.planned).reduce((a, b) => a + b, 0)} resource(s) planned`;
  return `${operation} ${s.ok ? "finished" : s.errorCode ? `stopped (${s.errorCode})` : "finished with failures"} after ${seconds(event.elapsedMs)}: ${what}`;
}

/** Shows events as they come; `finish` clears any live display. */
export interface ProgressView {
  show(event: OperationEvent): void;
  finish(): void;
}

/** What a command does with the events it shows its own way. */
export interface ProgressHooks {
  /** The plan an apply, destroy or teardown is about to carry out (not called with --json: the plan event is a line of its own). */
  onPlan?: (plan: Plan) => void;
}

function plainView(stream: NodeJS.WritableStream, operation: string, hooks: ProgressHooks): ProgressView {
  return {
    show(event) {
      if (event.event.case === "plan") return hooks.onPlan?.(event.event.value);
      const line = event.event.case === "started" ? `${operation} started` : (settledLine(event) ?? summaryLine(event, operation));
      if (line) stream.write(`${event.time} ${line}\n`);
    },
    finish() {},
  };
}

/** The live view; its libraries load only on a terminal, keeping them off every other command's start-up. */
async function liveView(stream: NodeJS.WriteStream, operation: string, hooks: ProgressHooks): Promise<ProgressView> {
  const [{ createLogUpdate }, { default: cliSpinners }] = await Promise.all([import("log-update"), import("cli-spinners")]);
  const update = createLogUpdate(stream, { showCursor: false });
  const spinner = cliSpinners.dots;
  const inFlight = new Map<string, { label: string; since: number }>();
  let frame = 0;
  const draw = () => {
    const now = performance.now();
    const icon = spinner.frames[frame++ % spinner.frames.length] ?? "*";
    update([...inFlight.values()].map((r) => `${icon} ${r.label} ${seconds(now - r.since)}`).join("\n"));
  };
  const timer = setInterval(draw, spinner.interval);
  timer.unref();
  return {
    show(event) {
      if (event.event.case === "plan") {
        // Printed above the live region, which is empty still: no change has started.
        update.clear();
        hooks.onPlan?.(event.event.value);
        draw();
        return;
      }
      if (event.event.case === "resource") {
        const r = event.event.value;
        const step = r.action === "replace" && r.message ? ` (${doing[r.message] ?? r.message})` : "";
        if (r.phase === ResourcePhase.STARTED) inFlight.set(r.name, { label: `${r.name} (${r.type}): ${doing[r.action] ?? r.action}${step}…`, since: performance.now() });
        else if (r.phase !== ResourcePhase.PLANNED && r.action !== "record") inFlight.delete(r.name);
      }
      const line = settledLine(event) ?? summaryLine(event, operation);
      if (line) {
        // Settled lines stay above the live region.
        update.clear();
        const mark = event.event.case === "resource" ? (event.event.value.phase === ResourcePhase.FINISHED ? "✓" : "✗") : "•";
        stream.write(`${mark} ${line}\n`);
      }
      draw();
    },
    finish() {
      clearInterval(timer);
      update.clear();
      update.done();
    },
  };
}

/** Prints each event as one JSON line on stdout; the summary waits for the command's report. */
function jsonView(operation: string): ProgressView & { summary(): Record<string, unknown> | undefined } {
  let summary: Record<string, unknown> | undefined;
  return {
    show(event) {
      const json = eventJson(event, operation);
      if (event.event.case === "summary") summary = json;
      else process.stdout.write(`${JSON.stringify(json)}\n`);
    },
    finish() {},
    summary: () => summary,
  };
}

/** How long to wait for the last events once the operation's own call has returned. */
const TAIL_MS = 3_000;

/**
 * Runs `call` (an operation given id `operationId`) while streaming its
 * events into a view. With --json, the last line printed is the summary event
 * with the command's report under `result` (and `error` if it failed).
 */
export async function withProgress<R>(
  connection: Connection,
  mode: ProgressMode,
  operation: string,
  operationId: string,
  call: () => Promise<R>,
  report: (result: R) => unknown,
  hooks: ProgressHooks = {},
): Promise<R> {
  // Under GitHub Actions the lines fold into one section of the log; the plan stays outside it, where it is read.
  const grouped = mode === "plain" && underGitHubActions();
  const startGroup = () => (grouped ? group(`wfctl ${operation}: progress`) : () => {});
  let endGroup = startGroup();
  const onPlan = hooks.onPlan;
  const shown: ProgressHooks = onPlan
    ? {
        onPlan: (plan) => {
          endGroup();
          onPlan(plan);
          endGroup = startGroup();
        },
      }
    : {};
  const view = mode === "json" ? jsonView(operation) : mode === "live" ? await liveView(process.stderr, operation, shown) : plainView(process.stderr, operation, shown);
  const finish = () => {
    view.finish();
    endGroup();
  };
  const stop = new AbortController();
  const watching = (async () => {
    try {
      // Only --json prints the planned events; the other views leave them out, so the daemon does not send them.
      const request = { operationId, skipPlanned: mode !== "json" };
      for await (const event of connection.client.watchOperation(request, { signal: stop.signal })) view.show(event);
    } catch {
      // Progress is a view; the operation's own call says how it went.
    }
  })();
  let outcome: { ok: true; result: R } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, result: await call() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  await settle(watching, stop);
  finish();
  if (mode === "json") {
    const summary = (view as ReturnType<typeof jsonView>).summary();
    // A failed call ends with its error line (client/main.ts); a report rides on the summary.
    if (!outcome.ok) {
      if (summary) process.stdout.write(`${JSON.stringify(summary)}\n`);
    } else {
      process.stdout.write(`${JSON.stringify({ ...(summary ?? { type: "summary", operation, operation_id: operationId }), result: report(outcome.result) })}\n`);
    }
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.result;
}

async function settle(watching: Promise<void>, stop: AbortController): Promise<void> {
  const timer = setTimeout(() => stop.abort(), TAIL_MS);
  try {
    await watching;
  } finally {
    clearTimeout(timer);
  }
}
