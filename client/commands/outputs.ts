// wfctl infra outputs: values of applied resources. Sensitive ones are masked
// unless --show-sensitive; under GitHub Actions each sensitive value is first
// registered with ::add-mask:: (on stderr) so the runner hides it in the job's log.
// With --sync, each value is written to its declared sinks instead of printed.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type TargetOptions, callOptions, caller, interrupt, out, printJson, target, withConnection } from "../runtime.js";
import { EXIT } from "../exit-codes.js";
import { MASKED, addMaskCommands, outputsJson, plainValue, renderOutputs, underGitHubActions, valueOf } from "../output/outputs.js";
import type { Connection } from "../connection.js";
import { appendStepSummary, sinksSummary } from "../github.js";

export interface OutputsOptions extends TargetOptions {
  showSensitive?: boolean;
  sync?: boolean;
}

/**
 * Writes the sinks of the outputs named (all with sinks when none are), or
 * with `onApply`, those marked on_apply. Reports to stdout (--json: one
 * object), never a value. The sink code loads only when used.
 */
export async function syncOutputSinks(
  connection: Connection,
  opts: TargetOptions,
  command: string,
  names: readonly string[],
  how: { onApply: boolean; mask: boolean; afterApply: boolean },
): Promise<number> {
  const response = await connection.client.outputs(
    { target: target(opts), caller: caller(command), names: [...names], revealSensitive: true, withSinks: !how.onApply, onApplySinks: how.onApply },
    callOptions(opts),
  );
  if (how.onApply && response.outputs.length === 0) return EXIT.OK;
  const { renderSinkOutcomes, sinkOutcomesJson, sinksExit, syncSinks } = await import("../sinks/sync.js");
  const outcomes = await syncSinks(response.outputs, { onApplyOnly: how.onApply, mask: how.mask, signal: interrupt.signal });
  // After an apply's JSON lines, one more line; after its text, a blank line first.
  if (opts.json && how.afterApply) process.stdout.write(`${JSON.stringify({ type: "sinks", sinks: sinkOutcomesJson(outcomes) })}\n`);
  else if (opts.json) printJson({ sinks: sinkOutcomesJson(outcomes) });
  else out(`${how.afterApply ? "\n" : ""}${renderSinkOutcomes(outcomes)}`);
  if (outcomes.length > 0) appendStepSummary(sinksSummary(outcomes, target(opts)));
  return sinksExit(outcomes);
}

export async function outputs(names: string[], opts: OutputsOptions): Promise<number> {
  const show = opts.showSensitive ?? false;
  const masking = underGitHubActions();
  if (opts.sync && show) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "--sync and --show-sensitive do not go together: --sync writes values to their sinks and prints none");
  }
  if (opts.sync) return withConnection(opts, (connection) => syncOutputSinks(connection, opts, "wfctl infra outputs --sync", names, { onApply: false, mask: masking, afterApply: false }));
  return withConnection(opts, async ({ client }) => {
    const response = await client.outputs(
      { target: target(opts), caller: caller("wfctl infra outputs"), names, revealSensitive: show || masking },
      callOptions(opts),
    );
    // Masks first, before any line that could carry a value; on stderr (the
    // runner reads workflow commands from both streams), so stdout stays the
    // value alone for $(...) and --json for jq.
    if (masking) {
      for (const o of response.outputs) {
        const value = valueOf(o);
        if (o.sensitive && value !== undefined) for (const line of addMaskCommands(value)) process.stderr.write(line);
      }
    }
    if (opts.json) printJson(outputsJson(response.outputs, show));
    else if (names.length === 1 && response.outputs.length === 1) {
      // One output asked for by name: its bare value, for scripts ($(wfctl infra outputs url)).
      const [o] = response.outputs;
      const value = o ? valueOf(o) : undefined;
      if (o?.sensitive && !show) process.stderr.write(`${o.name} is sensitive: add --show-sensitive to print its value.\n`);
      out(`${o?.sensitive && !show ? MASKED : plainValue(value)}\n`);
    } else out(renderOutputs(response.outputs, show, `${response.backend}`));
    return EXIT.OK;
  });
}
