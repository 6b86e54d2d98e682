// Secret sinks: each output's value written straight to where its `sinks:`
// say, from this process. The value arrives from the daemon over the local
// socket and leaves only encrypted (github_secret) or into $GITHUB_ENV
// (github_env): never on stdout, in argv or in a child's environment. Sinks
// run in the client because what they need belongs to the CI step, not to a
// daemon shared by the whole job: the token variable and $GITHUB_ENV (a new
// file for every step).
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { fromConnectError } from "../../proto/connect-errors.js";
import type { OutputSink, OutputValue } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { EXIT, exitCodeFor } from "../exit-codes.js";
import { addMaskCommands, plainValue, valueOf } from "../output/outputs.js";
import { renderTable } from "../output/table.js";
import { GitHubSecretWriter, describeSecret, secretDestination } from "./github-secret.js";
import { writeGitHubEnv } from "./github-env.js";

/** What happened to one sink. */
export interface SinkOutcome {
  output: string;
  type: string;
  name: string;
  /** Where the value went (or was to go), e.g. "GitHub secret DB_URL in octo/app". */
  destination: string;
  error?: WfctlError;
}

export interface SyncOptions {
  /** Only sinks marked on_apply (after an apply without --sync-outputs). */
  onApplyOnly: boolean;
  /** Register sensitive values with ::add-mask:: first (GitHub Actions, unless already done). */
  mask: boolean;
  signal: AbortSignal;
}

/** Writes every sink of `outputs` (each output must carry its value); one failure does not stop the others. */
export async function syncSinks(outputs: readonly OutputValue[], opts: SyncOptions): Promise<SinkOutcome[]> {
  const env = process.env;
  const chosen = (o: OutputValue): OutputSink[] => o.sinks.filter((s) => !opts.onApplyOnly || s.onApply);
  if (opts.mask) {
    for (const o of outputs) {
      const value = valueOf(o);
      if (o.sensitive && chosen(o).length > 0 && value !== undefined) for (const line of addMaskCommands(value)) process.stderr.write(line);
    }
  }
  const secrets = new GitHubSecretWriter(env, opts.signal);
  const outcomes: SinkOutcome[] = [];
  for (const o of outputs) {
    for (const sink of chosen(o)) {
      const outcome: SinkOutcome = { output: o.name, type: sink.type, name: sink.name, destination: sink.type === "github_env" ? `$GITHUB_ENV ${sink.name}` : `GitHub secret ${sink.name.toUpperCase()}` };
      outcomes.push(outcome);
      try {
        const value = valueOf(o);
        if (value === undefined) throw new WfctlError(ErrorCode.INTERNAL, `output "${o.name}": the daemon sent no value for its sinks`);
        if (sink.type === "github_secret") {
          const destination = secretDestination(o.name, sink, env);
          outcome.destination = describeSecret(destination);
          await secrets.write(o.name, sink, destination, plainValue(value));
        } else if (sink.type === "github_env") writeGitHubEnv(o.name, sink, plainValue(value), env);
        else throw new WfctlError(ErrorCode.UNSUPPORTED, `output "${o.name}": this wfctl cannot write sinks of type "${sink.type}"`);
      } catch (err) {
        outcome.error = fromConnectError(err);
        if (outcome.error.code === ErrorCode.CANCELLED) return outcomes;
      }
    }
  }
  return outcomes;
}

/** A table of the sinks written and failed; errors follow, one per line. */
export function renderSinkOutcomes(outcomes: readonly SinkOutcome[]): string {
  if (outcomes.length === 0) return "No sinks to write.\n";
  const table = renderTable(
    ["OUTPUT", "SINK", "DESTINATION", "RESULT"],
    outcomes.map((o) => [o.output, o.type, o.destination, o.error ? `FAILED (${o.error.code})` : "written"]),
  );
  const failed = outcomes.filter((o) => o.error);
  const errors = failed.map((o) => `Error: ${o.error?.message ?? ""}\n`).join("");
  const written = outcomes.length - failed.length;
  return `${table}\n${written} of ${outcomes.length} sink${outcomes.length === 1 ? "" : "s"} written.\n${errors}`;
}

/** The outcomes as JSON (snake_case, like the rest of wfctl's JSON). */
export function sinkOutcomesJson(outcomes: readonly SinkOutcome[]): Record<string, unknown>[] {
  return outcomes.map((o) => ({
    output: o.output,
    type: o.type,
    name: o.name,
    destination: o.destination,
    ok: o.error === undefined,
    ...(o.error ? { error: { code: o.error.code, message: o.error.message } } : {}),
  }));
}

/** The exit code: OK when every sink was written, else that of the first failure. */
export function sinksExit(outcomes: readonly SinkOutcome[]): number {
  const failed = outcomes.find((o) => o.error);
  return failed?.error ? exitCodeFor(failed.error.code) : EXIT.OK;
}
