// Declared outputs for one environment: each source names a resource module
// (by the name written at its top) and a field; the module may be disabled in
// this environment, which is an error only when the output is read. And each
// output's sinks, with their defaults, no two writing the same target.
import type { ErrorDetail } from "../../proto/errors.js";
import type { OutputDeclaration, OutputSinkDeclaration } from "./model.js";
import { type CheckedOutput, type Resolution, isCore } from "./resolution.js";
import { ENV_NAME, type RawModule, type RawSink, SECRET_NAME } from "./schema.js";
import type { SourceFile } from "./source.js";

/** The module an output's source names: the longest known module name that prefixes it (names may contain dots). */
function sourceModule(source: string, modules: ReadonlyMap<string, RawModule>): RawModule | undefined {
  let module: RawModule | undefined;
  for (let i = source.lastIndexOf("."); i > 0 && !module; i = source.lastIndexOf(".", i - 1)) module = modules.get(source.slice(0, i));
  return module;
}

/** Every valid declared output, in file order (problems go to `r.problems`). */
export function resolveOutputs(r: Resolution, rawOutputs: ReadonlyMap<string, CheckedOutput>): OutputDeclaration[] {
  const outputs: OutputDeclaration[] = [];
  // Where each secret or variable is written from, so two sinks cannot write the same one.
  const sinkTargets = new Map<string, string>();
  const allModules = new Map<string, RawModule>();
  for (const m of r.modules) if (m && !allModules.has(m.name)) allModules.set(m.name, m);
  for (const [name, output] of rawOutputs) {
    const at = (message: string) => r.problems.push(r.source.detail(["outputs", name, "source"], `output "${name}": ${message}`, undefined, `outputs.${name}.source`));
    const module = sourceModule(output.source, allModules);
    if (!module) {
      const prefix = output.source.split(".")[0] ?? "";
      if (allModules.has(output.source) || !output.source.includes(".")) at(`source "${output.source}" must be module.field, e.g. ${output.source}.id`);
      else if (!r.invalid.has(prefix)) at(`source "${output.source}" names no module (modules: ${[...allModules.keys()].join(", ") || "none"})`);
      continue;
    }
    if (isCore(module.type)) {
      at(`source "${output.source}" names a module of type ${module.type}; outputs come from resource modules`);
      continue;
    }
    const field = output.source.slice(module.name.length + 1);
    if (field === "") {
      at(`source "${output.source}" names no field after the module`);
      continue;
    }
    outputs.push({
      name,
      module: module.name,
      resource: r.disabled.has(module.name) ? undefined : r.byBase.get(module.name)?.view.name,
      field,
      sensitive: output.sensitive ?? false,
      description: output.description ?? "",
      sinks: output.sinks.flatMap(({ sink, index }) => resolveSink(r.source, name, sink, index, sinkTargets, r.problems)),
    });
  }
  return outputs;
}

/** A checked sink with its defaults; a problem (and nothing) when its defaulted name is invalid or another sink writes the same target. */
function resolveSink(
  source: SourceFile,
  output: string,
  sink: RawSink,
  index: number,
  targets: Map<string, string>,
  problems: ErrorDetail[],
): OutputSinkDeclaration[] {
  const path = ["outputs", output, "sinks", index];
  const field = `outputs.${output}.sinks.${index}`;
  const name = sink.name ?? output;
  const valid = sink.type === "github_secret" ? SECRET_NAME : ENV_NAME;
  if (!valid.test(name)) {
    const what = sink.type === "github_secret" ? "a GitHub secret name" : "an environment variable name";
    problems.push(source.detail(path, `the output's name "${output}" is not ${what}: set name`, undefined, `${field}.name`));
    return [];
  }
  const repository = sink.type === "github_secret" ? (sink.repository ?? "") : "";
  const environment = sink.type === "github_secret" ? (sink.environment ?? "") : "";
  const apiUrl = sink.type === "github_secret" ? (sink.api_url ?? "").replace(/\/+$/, "") : "";
  // GitHub secret names are case-insensitive; variable names are not.
  const key =
    sink.type === "github_secret"
      ? `github_secret ${apiUrl} ${repository.toLowerCase()} ${environment} ${name.toUpperCase()}`
      : `github_env ${name}`;
  const where = source.detail(path, "");
  const location = `${where.file}:${where.line ?? 0}`;
  const other = targets.get(key);
  if (other !== undefined) {
    const what = sink.type === "github_secret" ? `GitHub secret ${name.toUpperCase()}${environment ? ` (environment ${environment})` : ""}` : `variable ${name}`;
    problems.push(source.detail(path, `writes the same ${what} as the sink at ${other}`, undefined, field));
    return [];
  }
  targets.set(key, location);
  return [
    {
      type: sink.type,
      name,
      repository,
      environment,
      tokenEnv: sink.type === "github_secret" ? (sink.token_env ?? "GITHUB_TOKEN") : "",
      apiUrl,
      onApply: sink.on_apply ?? false,
      location,
    },
  ];
}
