// The github_env sink: a variable for the job's later steps, appended to the
// file $GITHUB_ENV names, with the multi-line delimiter syntax
// (NAME<<DELIMITER, value lines, DELIMITER) so any value is safe. The caller
// masks a sensitive value (::add-mask::) first, so later steps' logs hide it.
import { appendFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { EOL } from "node:os";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { OutputSink } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";

/** The lines appended to $GITHUB_ENV for `name` = `value`. */
export function envFileEntry(name: string, value: string, delimiter = `ghadelimiter_${randomUUID()}`): string {
  // The runner ends the value at the first line equal to the delimiter.
  if (value.split(/\r?\n/).includes(delimiter) || name.includes(delimiter)) {
    throw new WfctlError(ErrorCode.INTERNAL, `the value of ${name} contains the delimiter chosen for it; try again`);
  }
  return `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`;
}

/** Appends the variable to $GITHUB_ENV. Returns the file written. */
export function writeGitHubEnv(output: string, sink: OutputSink, value: string, env: NodeJS.ProcessEnv): string {
  const file = env["GITHUB_ENV"];
  const label = `output "${output}", github_env sink ${sink.name}${sink.location ? ` (${sink.location})` : ""}`;
  if (!file) {
    throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `${label}: $GITHUB_ENV is not set: this sink works only in a GitHub Actions step, which sets it`);
  }
  try {
    appendFileSync(file, envFileEntry(sink.name, value), { encoding: "utf8" });
  } catch (err) {
    throw new WfctlError(ErrorCode.SINK_FAILED, `${label}: cannot append to $GITHUB_ENV (${file}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return file;
}
