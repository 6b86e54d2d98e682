// wfctl infra outputs: values of applied resources. Sensitive ones are masked
// unless --show-sensitive; under GitHub Actions each sensitive value is first
// registered with ::add-mask:: (on stderr) so the runner hides it in the job's log.
import { type TargetOptions, callOptions, caller, out, printJson, target, withConnection } from "../runtime.js";
import { EXIT } from "../exit-codes.js";
import { MASKED, addMaskCommands, outputsJson, plainValue, renderOutputs, underGitHubActions, valueOf } from "../output/outputs.js";

export interface OutputsOptions extends TargetOptions {
  showSensitive?: boolean;
}

export async function outputs(names: string[], opts: OutputsOptions): Promise<number> {
  const show = opts.showSensitive ?? false;
  const masking = underGitHubActions();
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
