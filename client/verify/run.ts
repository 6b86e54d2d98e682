// wfctl deploy verify: the health-check gate after a deploy. Checks every
// target of the configuration's `verify:` section from this process (the
// runner's network, no daemon or plugin), all in parallel, each retried until
// healthy, out of attempts, or out of time. Exit 0 when all are healthy, 1
// when any is not, 130 on Ctrl-C.
import { resolve } from "node:path";
import { parseDuration } from "../../proto/duration.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type InfraConfig, type VerifyTarget, loadConfig } from "../config.js";
import { EXIT } from "../exit-codes.js";
import { appendStepSummary, errorAnnotations, group, underGitHubActions } from "../github.js";
import { progressMode } from "../progress.js";
import { interrupt, out, printJson } from "../runtime.js";
import { detailText, failedAttemptLine, renderVerifyTable, settledLine, verdictLine, verifyJson, verifySummary } from "./report.js";
import { type TargetReport, verifyTargets } from "./retry.js";

/** Flags of `wfctl deploy verify`. */
export interface VerifyOptions {
  config: string;
  env?: string;
  json?: boolean;
  /** Names of the targets to check; all when not given. */
  target?: string[];
  /** Overrides verify.timeout. */
  timeout?: string;
}

/** The targets `--target` names (comma-separated or repeated), or all of them. */
export function selectTargets(config: InfraConfig, names: readonly string[] | undefined): VerifyTarget[] {
  const section = config.verify;
  const where = config.env ? ` in environment "${config.env}"` : "";
  if (!section) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `${config.file} has no verify: section; declare the health checks under verify.targets (see docs/configuration.md#verify)`, {
      details: [{ file: config.file, field: "verify", message: "no verify: section" }],
    });
  }
  if (section.targets.length === 0) {
    const why = section.disabled.length > 0 ? `every target is disabled${where} (${section.disabled.join(", ")})` : "verify.targets is empty";
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `${config.file}: no health check to run: ${why}`, { details: [{ file: config.file, field: "verify.targets", message: why }] });
  }
  const wanted = (names ?? []).flatMap((n) => n.split(",")).map((n) => n.trim()).filter((n) => n !== "");
  if (wanted.length === 0) return section.targets;
  const known = section.targets.map((t) => t.name);
  for (const name of wanted) {
    if (known.includes(name)) continue;
    const why = section.disabled.includes(name) ? `is disabled${where}` : "is not a target";
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `--target "${name}" ${why} in ${config.file} (targets${where}: ${known.join(", ")})`);
  }
  return section.targets.filter((t) => wanted.includes(t.name));
}

/** Runs the checks and prints the outcome; the exit code says whether every target is healthy. */
export async function verify(opts: VerifyOptions): Promise<number> {
  const timeoutOverride = opts.timeout === undefined ? undefined : parseDuration(opts.timeout, "--timeout");
  if (timeoutOverride === 0) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "--timeout must be greater than zero");
  const config = await loadConfig(resolve(opts.config), opts.env ?? "");
  const targets = selectTargets(config, opts.target);
  const timeoutMs = timeoutOverride ?? config.verify?.timeoutMs ?? 0;

  // Progress on stderr: timestamped lines unless on a terminal; folded under GitHub Actions.
  const stamped = progressMode({}) !== "live";
  const say = (line: string) => process.stderr.write(`${stamped ? `${new Date().toISOString()} ` : ""}${line}\n`);
  const endGroup = underGitHubActions() ? group("wfctl deploy verify: progress") : () => {};
  const started = performance.now();
  let reports: TargetReport[];
  try {
    reports = await verifyTargets(targets, {
      timeoutMs,
      signal: interrupt.signal,
      onFailedAttempt: (failure) => say(failedAttemptLine(failure)),
      onSettled: (report) => say(settledLine(report, timeoutMs)),
    });
  } finally {
    endGroup();
  }
  const elapsedMs = performance.now() - started;

  const failed = reports.filter((r) => !r.ok);
  if (underGitHubActions()) {
    for (const r of failed) {
      const message = `target "${r.target.name}" is unhealthy: ${detailText(r, timeoutMs)}`;
      const at = config.source.detail(["verify", "targets", r.target.index], message, undefined, `verify.targets.${r.target.name}`);
      for (const line of errorAnnotations(message, [at])) process.stderr.write(line);
    }
  }
  appendStepSummary(verifySummary(reports, { configPath: config.file, env: config.env }, timeoutMs));
  if (opts.json) printJson(verifyJson(reports, { file: config.file, env: config.env, timeoutMs, elapsedMs }));
  else out(`${renderVerifyTable(reports, timeoutMs)}\n${verdictLine(reports, elapsedMs)}`);
  if (interrupt.signal.aborted) return EXIT.CANCELLED;
  return failed.length === 0 ? EXIT.OK : EXIT.ERROR;
}

