// The worker thread configurations are parsed in (offthread.ts starts it and
// stops it when a job runs past its budget). Parsing and checking a file is
// synchronous work proportional to the file, and a pathological file (1 MB of
// JSON lines: 250,000 syntax errors) takes seconds: here it costs the daemon
// nothing but a thread, and `daemon status` keeps answering meanwhile.
import { parentPort } from "node:worker_threads";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { type EnvironmentReferences, parseForNames } from "./env-references.js";
import type { InfraConfig } from "./model.js";
import { parseInfraConfig } from "./parse.js";
import type { PositionTree } from "./positions.js";
import { SourceFile } from "./source.js";

/**
 * What the worker is asked: a whole infra.yaml for one environment, the same
 * with what EnvironmentNames needs of it (one parse for both), or any YAML
 * file's value (wfctl.yaml, the lockfile).
 */
export type ParseJob =
  | { kind: "infra" | "names"; file: string; text: string; env: string; maxBytes: number }
  | { kind: "yaml"; file: string; text: string; maxBytes: number };

/** A WfctlError as it crosses the thread boundary. */
export interface ThreadError {
  code: ErrorCode;
  message: string;
  details: ErrorDetail[];
  omitted: number;
}

/** A configuration as it crosses the thread boundary (its source, which cannot, as positions). */
export type InfraReply = { ok: true; kind: "infra"; config: Omit<InfraConfig, "source">; positions: PositionTree | undefined };
type FailedReply = { ok: false; error: ThreadError };

/** What it answers. */
export type ParseReply =
  | InfraReply
  | { ok: true; kind: "yaml"; value: unknown; positions: PositionTree | undefined }
  | { ok: true; kind: "names"; references: EnvironmentReferences | undefined; loaded: InfraReply | FailedReply }
  | FailedReply;

function run(job: ParseJob): ParseReply {
  if (job.kind === "yaml") {
    const source = SourceFile.parse(job.file, job.text, job.maxBytes);
    return { ok: true, kind: "yaml", value: source.value(), positions: source.positions() };
  }
  if (job.kind === "names") {
    const { references, loaded } = parseForNames(job.file, job.text, job.env, job.maxBytes);
    return { ok: true, kind: "names", references, loaded: "config" in loaded ? infraReply(loaded.config) : failure(loaded.error, job.file) };
  }
  return infraReply(parseInfraConfig(job.file, job.text, job.env, job.maxBytes));
}

function infraReply({ source, ...config }: InfraConfig): InfraReply {
  return { ok: true, kind: "infra", config, positions: (source as SourceFile).positions() };
}

function failure(err: unknown, file: string): FailedReply {
  if (err instanceof WfctlError) return { ok: false, error: { code: err.code, message: err.message, details: [...err.details], omitted: err.omitted } };
  // A stack overflow is the file's doing (nesting beyond what the parser can follow); anything else is ours.
  const overflow = err instanceof RangeError;
  const message = overflow ? `cannot parse ${file}: it is nested too deeply (${err.message})` : `parsing ${file} failed: ${(err as Error).message}`;
  return { ok: false, error: { code: overflow ? ErrorCode.CONFIG_INVALID : ErrorCode.INTERNAL, message, details: overflow ? [{ file, message: "nested too deeply" }] : [], omitted: 0 } };
}

parentPort?.on("message", (job: ParseJob) => {
  let reply: ParseReply;
  try {
    reply = run(job);
  } catch (err) {
    reply = failure(err, job.file);
  }
  try {
    parentPort?.postMessage(reply);
  } catch (err) {
    // A value that cannot be cloned across threads: say so rather than leave the daemon waiting.
    parentPort?.postMessage(failure(err, job.file));
  }
});
