// What `wfctl deploy verify` prints: a table of targets (stdout), a JSON
// document with --json, and progress lines as attempts fail (stderr).
// Endpoints print without credentials (redactUrl).
import type { MessageInitShape } from "@bufbuild/protobuf";
import { formatDuration } from "../../proto/duration.js";
import type { TargetSchema } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { cell, heading } from "../github.js";
import { renderTable } from "../output/table.js";
import { endpointOf } from "./probe.js";
import type { FailedAttempt, TargetReport } from "./retry.js";

/** The result column: OK or FAILED. */
export function resultWord(report: TargetReport): "OK" | "FAILED" {
  return report.ok ? "OK" : "FAILED";
}

/** Attempts made, out of how many when the target has a limit: `3`, `4/4`. */
export function attemptsText(report: TargetReport): string {
  return report.target.attempts === undefined ? String(report.attempts) : `${report.attempts}/${report.target.attempts}`;
}

/** The last attempt's result, and for a failure why trying stopped. */
export function detailText(report: TargetReport, timeoutMs: number): string {
  switch (report.gaveUp) {
    case "timeout":
      return `${report.detail} (verify timeout ${formatDuration(timeoutMs)})`;
    case "attempts":
      return `${report.detail} (out of attempts)`;
    case "interrupted":
      return `${report.detail} (interrupted)`;
    default:
      return report.detail;
  }
}

/** The table: one row per target. */
export function renderVerifyTable(reports: readonly TargetReport[], timeoutMs: number): string {
  return renderTable(
    ["target", "kind", "endpoint", "result", "attempts", "elapsed", "detail"],
    reports.map((r) => [r.target.name, r.target.check.kind, endpointOf(r.target.check), resultWord(r), attemptsText(r), formatDuration(r.elapsedMs), detailText(r, timeoutMs)]),
  );
}

/** The line under the table. */
export function verdictLine(reports: readonly TargetReport[], elapsedMs: number): string {
  const failed = reports.filter((r) => !r.ok);
  const after = `after ${formatDuration(elapsedMs)}`;
  if (failed.length === 0) return `All ${reports.length} target(s) healthy ${after}.\n`;
  const how = failed.some((r) => r.gaveUp === "interrupted") ? "interrupted" : "failed";
  return `Verify ${how} ${after}: ${failed.length} of ${reports.length} target(s) unhealthy: ${failed.map((r) => r.target.name).join(", ")}.\n`;
}

/** The --json document. */
export function verifyJson(reports: readonly TargetReport[], run: { file: string; env: string; timeoutMs: number; elapsedMs: number }): Record<string, unknown> {
  return {
    ok: reports.every((r) => r.ok),
    config: run.file,
    env: run.env,
    timeout_ms: run.timeoutMs,
    elapsed_ms: Math.round(run.elapsedMs),
    targets: reports.map((r) => ({
      name: r.target.name,
      kind: r.target.check.kind,
      endpoint: endpointOf(r.target.check),
      ok: r.ok,
      attempts: r.attempts,
      max_attempts: r.target.attempts ?? null,
      elapsed_ms: r.elapsedMs,
      ...(r.status !== undefined ? { status: r.status } : {}),
      ...(r.ok ? { detail: r.detail } : { error: r.detail, gave_up: r.gaveUp }),
    })),
  };
}

/** A progress line for a failed attempt: `api: attempt 2/10 failed: HTTP 503; next in 2s`. */
export function failedAttemptLine(failure: FailedAttempt): string {
  const { target, attempt, result, nextInMs } = failure;
  const of = target.attempts === undefined ? "" : `/${target.attempts}`;
  return `${target.name}: attempt ${attempt}${of} failed: ${result.detail}${nextInMs === undefined ? "" : `; next in ${formatDuration(nextInMs)}`}`;
}

/** A progress line for a settled target. */
export function settledLine(report: TargetReport, timeoutMs: number): string {
  const tries = `${report.attempts} attempt(s) in ${formatDuration(report.elapsedMs)}`;
  return report.ok ? `${report.target.name}: healthy (${report.detail}) after ${tries}` : `${report.target.name}: FAILED after ${tries}: ${detailText(report, timeoutMs)}`;
}

/** The Markdown summary of `deploy verify`: a row per target with its result (endpoints without credentials). */
export function verifySummary(reports: readonly TargetReport[], target: MessageInitShape<typeof TargetSchema>, timeoutMs: number): string {
  let text = heading("deploy verify", target);
  const failed = reports.filter((r) => !r.ok);
  text += failed.length === 0 ? `**All ${reports.length} target(s) healthy.**\n\n` : `**${failed.length} of ${reports.length} target(s) unhealthy.**\n\n`;
  text += "| | target | kind | endpoint | attempts | time | detail |\n|---|---|---|---|---|---|---|\n";
  for (const r of reports) {
    text += `| ${r.ok ? "✅" : "❌"} | \`${cell(r.target.name)}\` | ${r.target.check.kind} | ${cell(endpointOf(r.target.check))} | ${attemptsText(r)} | ${formatDuration(r.elapsedMs)} | ${cell(detailText(r, timeoutMs))} |\n`;
  }
  return `${text}\n`;
}
