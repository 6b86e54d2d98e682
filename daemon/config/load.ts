// Loading infra.yaml: parse (with positions), check the schema, resolve the
// environment, then check the rules that span modules. Every problem found is
// reported at once, each naming the file, line, module and field.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { z } from "zod";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { findCycle } from "../engine/graph.js";
import { findReferences, splitExpression } from "./references.js";
import { type EnvironmentView, resolveForEnvironment } from "./environments.js";
import {
  DEFAULT_STATE_DIRECTORY,
  type InfraConfig,
  type OutputDeclaration,
  type OutputSinkDeclaration,
  type ProviderModule,
  type ResolvedReference,
  type ResourceModule,
  type StateModule,
  namespaceOf,
} from "./model.js";
import {
  ENV_NAME,
  OUTPUT_NAME,
  PROVIDER_MODULE,
  RESOURCE_TYPE,
  type RawModule,
  type RawOutput,
  type RawSink,
  SECRET_NAME,
  SINK_TYPES,
  STATE_MODULE,
  documentSchema,
  githubEnvSinkSchema,
  githubSecretSinkSchema,
  moduleSchema,
  outputSchema,
} from "./schema.js";
import { SourceFile, type YamlPath, throwIfProblems } from "./source.js";
import { type CheckedVerify, checkVerifySection, resolveVerify, verifyEnvironments } from "./verify.js";

/** Reads and resolves `file` for environment `env` ("" for none). */
export async function loadInfraConfig(file: string, env: string): Promise<InfraConfig> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (err as Error).message;
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `cannot read configuration ${path}: ${why}`, {
      details: [{ file: path, message: why }],
    });
  }
  const key = `${path}\0${env}`;
  const cached = parsed.get(key);
  if (cached?.text === text) {
    // Most recently used last, so the oldest entry is the one dropped.
    parsed.delete(key);
    parsed.set(key, cached);
    return cached.config;
  }
  const config = parseInfraConfig(path, text, env);
  freezeConfig(config);
  parsed.set(key, { text, config });
  if (parsed.size > PARSED_KEPT) parsed.delete(parsed.keys().next().value as string);
  return config;
}

/**
 * The last configurations loaded, by file and environment, with the text they
 * came from. A configuration is a function of its text, path and environment
 * alone, so a warm daemon answering the same CI step again skips YAML parsing
 * and validation (about a third of a warm plan of 100 resources) whenever the
 * file is unchanged. Cached configurations are frozen: nothing may change one.
 */
const parsed = new Map<string, { text: string; config: InfraConfig }>();
const PARSED_KEPT = 16;

function freezeConfig(config: InfraConfig): void {
  const freeze = (value: unknown): void => {
    if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
    if (value instanceof Map) {
      for (const entry of value.values()) freeze(entry);
    } else {
      Object.values(value).forEach(freeze);
    }
    Object.freeze(value);
  };
  // Not the source file: the YAML document keeps caches of its own.
  for (const [key, value] of Object.entries(config)) if (key !== "source") freeze(value);
  Object.freeze(config);
}

function schemaDetails(source: SourceFile, raw: unknown, issues: readonly z.core.$ZodIssue[]): ErrorDetail[] {
  const modules = (raw as { modules?: unknown[] } | undefined)?.modules;
  return issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    let module: string | undefined;
    let field: string | undefined;
    if (path[0] === "modules" && typeof path[1] === "number") {
      const m = Array.isArray(modules) ? (modules[path[1]] as { name?: unknown } | undefined) : undefined;
      module = typeof m?.name === "string" ? m.name : `#${path[1] + 1}`;
      field = path.length > 2 ? path.slice(2).join(".") : undefined;
    } else if (path.length > 0) {
      field = path.join(".");
    }
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    } else if (issue.code === "invalid_type" && issue.message.includes("received undefined")) {
      message = "is required";
    }
    return source.detail(path, message, module, field);
  });
}

/** Parses configuration text; `file` names it in errors and anchors relative paths. */
export function parseInfraConfig(file: string, text: string, env: string): InfraConfig {
  const source = SourceFile.parse(file, text);
  const raw = source.value();
  if (raw === null || raw === undefined) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `invalid configuration: ${file}: the file is empty; it needs a "modules:" list`, {
      details: [{ file, message: 'the file is empty; it needs a "modules:" list' }],
    });
  }
  const top = documentSchema.safeParse(raw);
  if (!top.success) throwIfProblems(file, schemaDetails(source, raw, top.error.issues));
  // Each module is checked on its own, so one bad module does not hide the
  // problems of the others; invalid ones are left out of the later checks.
  const problems: ErrorDetail[] = [];
  const modules = (top as { data: { modules: unknown[] } }).data.modules.map((module, index) => {
    const parsed = moduleSchema.safeParse(module);
    if (parsed.success) return parsed.data;
    const issues = parsed.error.issues.map((issue) => ({ ...issue, path: ["modules", index, ...issue.path] }));
    problems.push(...schemaDetails(source, raw, issues as typeof parsed.error.issues));
    return undefined;
  });
  const outputs = new Map<string, CheckedOutput>();
  for (const [name, output] of Object.entries((top as { data: { outputs?: Record<string, unknown> } }).data.outputs ?? {})) {
    if (!OUTPUT_NAME.test(name)) {
      problems.push(source.detail(["outputs", name], `output name "${name}" must start with a letter or '_' and use only letters, digits, '_', '-' (at most 128)`, undefined, `outputs.${name}`));
      continue;
    }
    const parsed = outputSchema.safeParse(output);
    if (parsed.success) outputs.set(name, { ...parsed.data, sinks: checkSinks(source, raw, name, parsed.data.sinks ?? [], problems) });
    else {
      const issues = parsed.error.issues.map((issue) => ({ ...issue, path: ["outputs", name, ...issue.path] }));
      problems.push(...schemaDetails(source, raw, issues as typeof parsed.error.issues));
    }
  }
  const verifyValue = (top as { data: { verify?: unknown } }).data.verify;
  const verify = verifyValue === undefined ? undefined : checkVerifySection(source, verifyValue, problems);
  return resolveConfig(source, modules, outputs, verify, env, problems);
}

/** An output as the schema checked it, its sinks each checked against their type's schema. */
type CheckedOutput = Omit<RawOutput, "sinks"> & { sinks: { sink: RawSink; index: number }[] };

/** Each sink of output `name` checked on its own, by its type; the valid ones, with their positions. */
function checkSinks(source: SourceFile, raw: unknown, name: string, sinks: readonly unknown[], problems: ErrorDetail[]): CheckedOutput["sinks"] {
  const checked: CheckedOutput["sinks"] = [];
  sinks.forEach((sink, index) => {
    const path = ["outputs", name, "sinks", index];
    const type = (sink as { type?: unknown } | null)?.type;
    const schema = type === "github_secret" ? githubSecretSinkSchema : type === "github_env" ? githubEnvSinkSchema : undefined;
    if (!schema) {
      const what = typeof sink !== "object" || sink === null || Array.isArray(sink) ? "must be a mapping with a type" : type === undefined ? "needs a type" : `unknown sink type ${JSON.stringify(type)}`;
      problems.push(source.detail(type === undefined ? path : [...path, "type"], `${what} (sink types: ${SINK_TYPES.join(", ")})`, undefined, `outputs.${name}.sinks.${index}.type`));
      return;
    }
    const parsed = schema.safeParse(sink);
    if (parsed.success) checked.push({ sink: parsed.data, index });
    else {
      const issues = parsed.error.issues.map((issue) => ({ ...issue, path: [...path, ...issue.path] }));
      problems.push(...schemaDetails(source, raw, issues as typeof parsed.error.issues));
    }
  });
  return checked;
}

interface Entry {
  index: number;
  /** The name as written. */
  base: string;
  raw: RawModule;
  view: EnvironmentView;
}

function isCore(type: string): boolean {
  return type === STATE_MODULE || type === PROVIDER_MODULE;
}

function resolveConfig(
  source: SourceFile,
  modules: readonly (RawModule | undefined)[],
  rawOutputs: ReadonlyMap<string, CheckedOutput>,
  rawVerify: CheckedVerify | undefined,
  env: string,
  problems: ErrorDetail[],
): InfraConfig {
  const file = source.file;
  const at = (index: number, path: YamlPath, module: string, message: string, field?: string) =>
    problems.push(source.detail(["modules", index, ...path], message, module, field));
  // Names of modules that failed the schema: they exist, so references to
  // them are not reported again.
  const rawModules = (source.value() as { modules: ({ name?: unknown } | null)[] }).modules;
  const invalid = new Set<string>();
  modules.forEach((m, i) => {
    const name = rawModules[i]?.name;
    if (m === undefined && typeof name === "string") invalid.add(name);
  });

  // An environment the configuration never mentions is most likely a typo:
  // it would resolve to the base configuration in a new, empty namespace and
  // plan to create everything again. Refused when the file names any.
  if (env !== "") {
    const known = new Set([...modules.flatMap((m) => Object.keys(m?.environments ?? {})), ...verifyEnvironments(rawVerify)]);
    if (known.size > 0 && !known.has(env)) {
      throw new WfctlError(
        ErrorCode.INVALID_ARGUMENT,
        `--env "${env}": ${file} mentions no environment of that name (it mentions: ${[...known].sort().join(", ")}). ` +
          `If "${env}" is a new environment, declare it under a module's environments (an empty entry will do, e.g. on the iac.state module: environments: { ${env}: {} })`,
        { details: [{ file, field: "--env", message: `unknown environment "${env}"` }] },
      );
    }
  }

  // Resolve every module for the environment; remember which are disabled.
  const enabled: Entry[] = [];
  const byBase = new Map<string, Entry>();
  const disabled = new Set<string>();
  const firstIndex = new Map<string, number>();
  modules.forEach((raw, index) => {
    if (!raw) return;
    const first = firstIndex.get(raw.name);
    if (first !== undefined) at(index, ["name"], raw.name, `duplicate module name (also module #${first + 1})`, "name");
    else firstIndex.set(raw.name, index);
    const view = resolveForEnvironment(raw, env);
    if (!view) {
      disabled.add(raw.name);
      return;
    }
    const entry = { index, base: raw.name, raw, view };
    enabled.push(entry);
    if (first === undefined) byBase.set(raw.name, entry);
  });
  const resolvedNames = new Map<string, Entry>();
  for (const entry of enabled) {
    const other = resolvedNames.get(entry.view.name);
    if (other && other.base !== entry.base) {
      at(entry.index, ["name"], entry.base, `resolves to name "${entry.view.name}" in environment "${env}", which module "${other.base}" also uses`, "name");
    }
    resolvedNames.set(entry.view.name, entry);
  }
  const whyMissing = (base: string): string => (disabled.has(base) ? `is disabled in environment "${env}"` : "does not exist");

  // Module types, and keys only resource modules take.
  for (const { index, base, raw, view } of enabled) {
    if (!isCore(view.type) && (view.type.startsWith("iac.") || !RESOURCE_TYPE.test(view.type))) {
      at(index, ["type"], base, `unknown module type "${view.type}" (expected ${STATE_MODULE}, ${PROVIDER_MODULE}, or a resource type such as local.file)`, "type");
    }
    if (isCore(view.type)) {
      for (const key of ["provider", "depends_on", "protected"] as const) {
        if (raw[key] !== undefined) at(index, [key], base, `only resource modules take "${key}" (this is an ${view.type} module)`, key);
      }
    }
  }

  // The state module; the embedded default (filesystem beside the config) when there is none.
  let state: StateModule = { name: "", backend: "filesystem", config: { directory: DEFAULT_STATE_DIRECTORY }, index: undefined };
  const stateEntries = enabled.filter((e) => e.view.type === STATE_MODULE);
  for (const extra of stateEntries.slice(1)) {
    at(extra.index, ["type"], extra.base, `only one ${STATE_MODULE} module is allowed (first: "${stateEntries[0]?.base}")`, "type");
  }
  const stateEntry = stateEntries[0];
  if (stateEntry) {
    const { backend, ...rest } = stateEntry.view.config;
    if (backend !== undefined && (typeof backend !== "string" || backend === "")) {
      at(stateEntry.index, ["config", "backend"], stateEntry.base, "must be a backend name (memory, filesystem, postgres, or a plugin's)", "config.backend");
    }
    const name = typeof backend === "string" && backend !== "" ? backend : "filesystem";
    state = {
      name: stateEntry.view.name,
      backend: name,
      config: name === "filesystem" && rest["directory"] === undefined ? { ...rest, directory: DEFAULT_STATE_DIRECTORY } : rest,
      index: stateEntry.index,
    };
  }

  // Provider modules, by the name resources use to refer to them (the base name).
  const providers = new Map<string, ProviderModule>();
  for (const { index, base, view } of enabled.filter((e) => e.view.type === PROVIDER_MODULE)) {
    const { provider: plugin, ...rest } = view.config;
    if (typeof plugin !== "string" || plugin === "") {
      at(index, ["config"], base, `an ${PROVIDER_MODULE} module needs config.provider: the plugin to run (e.g. "local")`, "config.provider");
      continue;
    }
    providers.set(base, { name: view.name, baseName: base, index, plugin, config: rest });
  }
  const declared = [...providers.keys()].join(", ") || "none";

  // Resources: provider and dependency references.
  const moduleNames = new Set(modules.flatMap((m) => (m ? [m.name] : [])));
  const resources: ResourceModule[] = [];
  for (const { index, base, view } of enabled.filter((e) => !isCore(e.view.type))) {
    let provider = "";
    if (view.provider === undefined) {
      at(index, [], base, `missing provider: name the ${PROVIDER_MODULE} module that manages it (declared: ${declared})`, "provider");
    } else {
      const target = providers.get(view.provider);
      const other = byBase.get(view.provider);
      if (target) provider = target.name;
      else if (other && other.view.type !== PROVIDER_MODULE) {
        at(index, ["provider"], base, `provider "${view.provider}" is of type ${other.view.type}, not ${PROVIDER_MODULE}`, "provider");
      } else if (!other && !invalid.has(view.provider)) {
        at(index, ["provider"], base, `provider "${view.provider}" ${whyMissing(view.provider)} (declared ${PROVIDER_MODULE} modules: ${declared})`, "provider");
      }
    }
    const dependsOn: string[] = [];
    view.dependsOn.forEach((dep, i) => {
      const target = byBase.get(dep);
      if (dep === base) at(index, ["depends_on", i], base, "depends on itself", "depends_on");
      else if (target && isCore(target.view.type)) {
        at(index, ["depends_on", i], base, `depends on "${dep}", of type ${target.view.type}; resources depend only on resources`, "depends_on");
      } else if (target) dependsOn.push(target.view.name);
      else if (!invalid.has(dep)) at(index, ["depends_on", i], base, `depends on "${dep}", which ${whyMissing(dep)}`, "depends_on");
    });
    // References to other resources' fields: ${module.field}.
    const references: ResolvedReference[] = [];
    for (const ref of findReferences(view.config)) {
      const where = ["config", ...ref.path];
      const field = `config.${ref.path.join(".")}`;
      const split = splitExpression(ref.expression, moduleNames);
      const target = split && byBase.get(split.module);
      if (!split) {
        const prefix = ref.expression.split(".")[0] ?? "";
        if (!invalid.has(prefix)) {
          at(index, where, base, `reference \${${ref.expression}} must be \${module.field}, naming a resource module (modules: ${[...moduleNames].join(", ") || "none"})`, field);
        }
      } else if (split.field === "") at(index, where, base, `reference \${${ref.expression}} names no field after the module`, field);
      else if (split.module === base) at(index, where, base, `reference \${${ref.expression}} refers to the module itself`, field);
      else if (!target) at(index, where, base, `reference \${${ref.expression}}: module "${split.module}" ${whyMissing(split.module)}`, field);
      else if (isCore(target.view.type)) at(index, where, base, `reference \${${ref.expression}} names a module of type ${target.view.type}; references name resource modules`, field);
      else {
        references.push({ expression: ref.expression, target: target.view.name, field: split.field });
        dependsOn.push(target.view.name);
      }
    }
    resources.push({
      name: view.name,
      baseName: base,
      index,
      type: view.type,
      provider,
      config: view.config,
      dependsOn: [...new Set(dependsOn)],
      references,
      protected: view.protected,
    });
  }

  // Outputs: each source names a resource module (by the name written at its
  // top) and a field; the module may be disabled in this environment, which
  // is an error only when the output is read.
  const outputs: OutputDeclaration[] = [];
  // Where each secret or variable is written from, so two sinks cannot write the same one.
  const sinkTargets = new Map<string, string>();
  const allModules = new Map<string, RawModule>();
  for (const m of modules) if (m && !allModules.has(m.name)) allModules.set(m.name, m);
  for (const [name, output] of rawOutputs) {
    const at = (message: string) => problems.push(source.detail(["outputs", name, "source"], `output "${name}": ${message}`, undefined, `outputs.${name}.source`));
    // Module names may contain dots: the longest known module name that prefixes the source wins.
    let module: RawModule | undefined;
    for (let i = output.source.lastIndexOf("."); i > 0 && !module; i = output.source.lastIndexOf(".", i - 1)) {
      module = allModules.get(output.source.slice(0, i));
    }
    if (!module) {
      const prefix = output.source.split(".")[0] ?? "";
      if (allModules.has(output.source) || !output.source.includes(".")) at(`source "${output.source}" must be module.field, e.g. ${output.source}.id`);
      else if (!invalid.has(prefix)) at(`source "${output.source}" names no module (modules: ${[...allModules.keys()].join(", ") || "none"})`);
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
      resource: disabled.has(module.name) ? undefined : byBase.get(module.name)?.view.name,
      field,
      sensitive: output.sensitive ?? false,
      description: output.description ?? "",
      sinks: output.sinks.flatMap(({ sink, index }) => resolveSink(source, name, sink, index, sinkTargets, problems)),
    });
  }

  // Health checks for `wfctl deploy verify`.
  const verify = rawVerify && resolveVerify(source, rawVerify, env, problems);

  if (problems.length === 0) {
    const cycle = findCycle(resources);
    if (cycle) {
      const first = resources.find((r) => r.name === cycle[0]);
      const names = cycle.map((n) => resources.find((r) => r.name === n)?.baseName ?? n);
      at(first?.index ?? 0, ["depends_on"], first?.baseName ?? "", `dependency cycle: ${names.join(" → ")}`, "depends_on");
    }
  }
  throwIfProblems(file, [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)));
  return {
    file,
    dir: dirname(file),
    env,
    namespace: namespaceOf(env),
    source,
    state,
    providers: new Map([...providers.values()].map((p) => [p.name, p])),
    resources,
    outputs,
    verify,
  };
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

/** Problems found later (e.g. against a provider's schema), located in the file. */
export function moduleProblem(config: InfraConfig, resource: { index: number; baseName: string }, field: string | undefined, message: string): ErrorDetail {
  const path: YamlPath = field === undefined ? ["modules", resource.index] : ["modules", resource.index, "config", ...field.split(".")];
  return config.source.detail(path, message, resource.baseName, field === undefined ? undefined : `config.${field}`);
}

