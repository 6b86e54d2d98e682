// GitHub Actions, when GITHUB_ACTIONS=true: every sensitive value is
// registered with ::add-mask:: before anything prints; configuration errors
// become ::error file=…,line=…:: annotations; progress sits in a collapsed
// ::group::; and plans, applies and drift append a Markdown table to
// $GITHUB_STEP_SUMMARY. Workflow commands go to stderr (the runner reads
// both streams), so stdout stays the command's output.
import { appendFileSync, realpathSync } from "node:fs";
import { isAbsolute, relative, sep } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ErrorDetail } from "../proto/errors.js";
import {
  Action,
  DriftClass,
  type DriftResult,
  Outcome,
  type Plan,
  type ResourceResult,
  type CallerSchema,
  type TargetSchema,
} from "../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import type { Connection } from "./connection.js";
import type { SinkOutcome } from "./sinks/sync.js";
import { isDrifted } from "./output/drift.js";
import { actionName } from "./output/plan.js";
import { addMaskCommands, escapeData, underGitHubActions } from "./output/outputs.js";

export { underGitHubActions };

/** Workflow-command property escaping (what @actions/core does): data escaping plus ':' and ','. */
function escapeProperty(value: string): string {
  return escapeData(value).replaceAll(":", "%3A").replaceAll(",", "%2C");
}

/**
 * Asks the daemon for every sensitive value of the target and registers each
 * with the runner, so none can show in the job's log. Values already masked
 * in this process are not sent twice.
 */
export async function maskSensitiveValues(
  connection: Connection,
  target: MessageInitShape<typeof TargetSchema>,
  caller: MessageInitShape<typeof CallerSchema>,
): Promise<void> {
  const response = await connection.client.listSensitiveValues({ target, caller });
  for (const json of response.valuesJson) {
    for (const line of addMaskCommands(JSON.parse(json) as unknown)) {
      if (masked.has(line)) continue;
      masked.add(line);
      process.stderr.write(line);
    }
  }
}
const masked = new Set<string>();

/** `path` relative to `workspace` when it lies inside it, else undefined. */
function inside(workspace: string, path: string): string | undefined {
  const rel = relative(workspace, path);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel) ? rel : undefined;
}

/** The real path, or the path itself when it cannot be resolved (gone, unreadable). */
function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * The file an annotation names: GitHub resolves `file=` against the
 * workspace, so a file inside GITHUB_WORKSPACE is given relative to it (with
 * '/' separators); one outside it keeps its absolute path. Symbolic links
 * (a workspace reached through one) are resolved before giving up.
 */
export function annotationPath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const workspace = env["GITHUB_WORKSPACE"];
  if (!workspace || !isAbsolute(file)) return file;
  const rel = inside(workspace, file) ?? inside(real(workspace), real(file));
  return rel === undefined ? file : rel.split(sep).join("/");
}

/** `::error` annotations for the details of a configuration error that say where (file and line). */
export function errorAnnotations(message: string, details: readonly ErrorDetail[], env: NodeJS.ProcessEnv = process.env): string[] {
  const located = details.filter((d) => d.file && d.line);
  if (located.length === 0) return [`::error title=wfctl::${escapeData(message)}\n`];
  return located.map((d) => {
    const props = [`file=${escapeProperty(annotationPath(d.file ?? "", env))}`, `line=${d.line}`, ...(d.column ? [`col=${d.column}`] : []), "title=wfctl"];
    const where = [d.module ? `module "${d.module}"` : "", d.field ? `field "${d.field}"` : ""].filter(Boolean).join(", ");
    return `::error ${props.join(",")}::${escapeData(where ? `${where}: ${d.message}` : d.message)}\n`;
  });
}

/** Opens a collapsed section of the log (closed by the returned function). */
export function group(title: string): () => void {
  process.stderr.write(`::group::${escapeData(title)}\n`);
  return () => process.stderr.write("::endgroup::\n");
}

const actionIcon: Record<Action, string> = {
  [Action.UNSPECIFIED]: "",
  [Action.NOOP]: "",
  [Action.CREATE]: "➕",
  [Action.UPDATE]: "✏️",
  [Action.REPLACE]: "♻️",
  [Action.DELETE]: "🗑️",
};

/** A table cell: pipes escaped, one line. */
/** Text fit for one Markdown table cell. */
export function cell(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("|", "\\|").replaceAll(/\r?\n/g, " ");
}

/** A summary's heading: the command, the configuration and the environment. */
export function heading(title: string, target: MessageInitShape<typeof TargetSchema>): string {
  return `### wfctl ${title}\n\n\`${cell(target.configPath ?? "")}\`${target.env ? `, environment \`${cell(target.env)}\`` : ""}\n\n`;
}

/** The Markdown summary of a plan: counts, then a row per change (field names only, never values). */
export function planSummary(plan: Plan, target: MessageInitShape<typeof TargetSchema>): string {
  const s = plan.summary;
  const changes = plan.changes.filter((c) => c.action !== Action.NOOP || c.ghost);
  let text = heading(plan.destroy ? "plan (destroy)" : "plan", target);
  text += `**${s?.create ?? 0} to add, ${s?.update ?? 0} to change, ${s?.replace ?? 0} to replace, ${s?.delete ?? 0} to destroy** (${s?.noop ?? 0} unchanged)\n\n`;
  if (changes.length === 0) return `${text}No changes. The infrastructure matches the configuration.\n\n`;
  text += "| | action | resource | type | fields |\n|---|---|---|---|---|\n";
  for (const c of changes) {
    const fields = c.fields.map((f) => `${f.field}${f.forcesReplace ? " (forces replacement)" : ""}`).join(", ");
    const action = c.ghost ? "ghost (gone; apply --refresh prunes it)" : actionName(c.action);
    text += `| ${actionIcon[c.action]} | ${action}${c.protected ? " [protected]" : ""} | \`${cell(c.name)}\` | ${cell(c.type)} | ${cell(fields)} |\n`;
  }
  return `${text}\n`;
}

const outcomeWord: Record<Outcome, string> = {
  [Outcome.UNSPECIFIED]: "?",
  [Outcome.SUCCEEDED]: "✅ succeeded",
  [Outcome.FAILED]: "❌ failed",
  [Outcome.SKIPPED]: "⏭️ skipped",
};

/** The Markdown summary of an apply, destroy or teardown: a row per change with its outcome and time. */
export function resultsSummary(title: string, results: readonly ResourceResult[], target: MessageInitShape<typeof TargetSchema>, stoppedReason: string): string {
  let text = heading(title, target);
  const failed = results.filter((r) => r.outcome !== Outcome.SUCCEEDED).length;
  text += failed === 0 && !stoppedReason ? `**Complete:** ${results.length} change(s).\n\n` : `**Incomplete:** ${failed} of ${results.length} change(s) did not succeed.${stoppedReason ? ` Stopped: ${cell(stoppedReason)}` : ""}\n\n`;
  if (results.length === 0) return text;
  text += "| resource | type | action | outcome | time | error |\n|---|---|---|---|---|---|\n";
  for (const r of results) {
    const error = r.outcome === Outcome.FAILED ? r.error : r.outcome === Outcome.SKIPPED ? r.skippedReason : "";
    text += `| \`${cell(r.name)}\` | ${cell(r.type)} | ${actionName(r.action)} | ${outcomeWord[r.outcome]} | ${(Number(r.elapsedMs) / 1000).toFixed(1)}s | ${cell(error)} |\n`;
  }
  return `${text}\n`;
}

const driftWord: Record<DriftClass, string> = {
  [DriftClass.UNKNOWN]: "drifted",
  [DriftClass.IN_SYNC]: "in sync",
  [DriftClass.GHOST]: "👻 ghost",
  [DriftClass.CONFIG]: "⚠️ config drift",
};

/** The Markdown summary of drift: a row per resource that is not in sync (field names only). */
export function driftSummary(results: readonly DriftResult[], target: MessageInitShape<typeof TargetSchema>): string {
  let text = heading("drift", target);
  const drifted = results.filter(isDrifted);
  if (drifted.length === 0) return `${text}No drift: all ${results.length} resource(s) match what their providers read.\n\n`;
  text += `**${drifted.length} of ${results.length} resource(s) drifted.** Run \`wfctl infra apply --refresh\` to converge.\n\n`;
  text += "| class | resource | type | fields |\n|---|---|---|---|\n";
  for (const r of drifted) {
    text += `| ${driftWord[r.class]} | \`${cell(r.name)}\` | ${cell(r.type)} | ${cell(r.fields.map((f) => f.field).join(", "))} |\n`;
  }
  return `${text}\n`;
}

/** The Markdown summary of the sinks written: output, sink, destination, result (never a value). */
export function sinksSummary(outcomes: readonly SinkOutcome[], target: MessageInitShape<typeof TargetSchema>): string {
  let text = heading("output sinks", target);
  const failed = outcomes.filter((o) => o.error).length;
  text += failed === 0 ? `**${outcomes.length} sink(s) written.**\n\n` : `**${failed} of ${outcomes.length} sink(s) failed.**\n\n`;
  text += "| | output | sink | destination | result |\n|---|---|---|---|---|\n";
  for (const o of outcomes) {
    text += `| ${o.error ? "❌" : "✅"} | \`${cell(o.output)}\` | ${o.type} | ${cell(o.destination)} | ${o.error ? cell(`${o.error.code}: ${o.error.message}`) : "written"} |\n`;
  }
  return `${text}\n`;
}

/** Appends Markdown to $GITHUB_STEP_SUMMARY when running under GitHub Actions with one set. */
export function appendStepSummary(markdown: string, env: NodeJS.ProcessEnv = process.env): void {
  const file = env["GITHUB_STEP_SUMMARY"];
  if (!underGitHubActions(env) || !file) return;
  appendFileSync(file, markdown);
}
