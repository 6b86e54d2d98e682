// Parsing infra.yaml: YAML with positions, then the schema, module by
// module and output by output, so that one bad module does not hide the
// problems of the others. What passes goes on to be resolved for the
// environment (resolve.ts); every problem names the file, line, module and field.
import type { z } from "zod";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import type { InfraConfig } from "./model.js";
import type { CheckedOutput } from "./resolution.js";
import { resolveConfig } from "./resolve.js";
import type { CheckedVariables } from "./resolution.js";
import { OUTPUT_NAME, SINK_TYPES, documentSchema, githubEnvSinkSchema, githubSecretSinkSchema, moduleSchema, outputSchema, variableSchema } from "./schema.js";
import { MAX_PROBLEMS_KEPT, SourceFile, invalidKeyMessage, throwIfProblems } from "./source.js";
import { checkMovedSection } from "./moved.js";
import { declareVariable, variableNameProblem } from "./variables.js";
import { checkVerifySection } from "./verify.js";

/** A problem at `path` of the raw document, naming its module (by name, else #position) and field. */
function problemAt(source: SourceFile, raw: unknown, path: readonly (string | number)[], message: string): ErrorDetail {
  const modules = (raw as { modules?: unknown[] } | undefined)?.modules;
  let module: string | undefined;
  let field: string | undefined;
  if (path[0] === "modules" && typeof path[1] === "number") {
    const m = Array.isArray(modules) ? (modules[path[1]] as { name?: unknown } | undefined) : undefined;
    module = typeof m?.name === "string" ? m.name : `#${path[1] + 1}`;
    field = path.length > 2 ? path.slice(2).join(".") : undefined;
  } else if (path.length > 0) {
    field = path.join(".");
  }
  return source.detail(path, message, module, field);
}

function schemaDetails(source: SourceFile, raw: unknown, issues: readonly z.core.$ZodIssue[]): ErrorDetail[] {
  return issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    } else if (issue.code === "invalid_type" && issue.message.includes("received undefined")) {
      message = "is required";
    } else if (issue.code === "invalid_key") {
      // A problem with the key itself (an environment name, say): located at the key.
      return { ...problemAt(source, raw, path, invalidKeyMessage(issue, path)), ...(source.locateKey(path) ?? {}) };
    }
    return problemAt(source, raw, path, message);
  });
}

/**
 * Every key and string of the document that holds a NUL character. None may:
 * no path, name or value the daemon or a plugin passes on can (a NUL in a
 * path failed deep in a plugin, quoting its internal temporary file name).
 */
function nulDetails(source: SourceFile, raw: unknown): ErrorDetail[] {
  const found: ErrorDetail[] = [];
  const walk = (value: unknown, path: (string | number)[]): void => {
    if (found.length >= MAX_PROBLEMS_KEPT) return;
    if (typeof value === "string") {
      if (value.includes("\0")) found.push(problemAt(source, raw, path, "must not contain a NUL character (\\0)"));
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, i]));
    } else if (typeof value === "object" && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        if (key.includes("\0")) found.push(problemAt(source, raw, path, `key ${JSON.stringify(key)} must not contain a NUL character (\\0)`));
        walk(item, [...path, key]);
      }
    }
  };
  walk(raw, []);
  return found;
}

/**
 * Parses configuration text; `file` names it in errors and anchors relative
 * paths. Synchronous and proportional to the text: the daemon runs it in a
 * worker thread (load.ts); `maxExpandedBytes` bounds what YAML aliases may
 * expand it to.
 */
export function parseInfraConfig(file: string, text: string, env: string, maxExpandedBytes?: number): InfraConfig {
  return checkInfraConfig(SourceFile.parse(file, text, maxExpandedBytes), env);
}

/** Checks and resolves an already parsed file for `env` (env-references.ts parses once for EnvironmentNames and this). */
export function checkInfraConfig(source: SourceFile, env: string): InfraConfig {
  const file = source.file;
  const raw = source.value();
  if (raw === null || raw === undefined) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `invalid configuration: ${file}: the file is empty; it needs a "modules:" list`, {
      details: [{ file, message: 'the file is empty; it needs a "modules:" list' }],
    });
  }
  throwIfProblems(file, nulDetails(source, raw));
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
  const movedValue = (top as { data: { moved?: unknown[] } }).data.moved;
  const moved = movedValue === undefined ? [] : checkMovedSection(source, movedValue, modules, env, problems);
  const variables = checkVariables(source, raw, (top as { data: { variables?: Record<string, unknown> } }).data.variables ?? {}, problems);
  return { ...resolveConfig(source, modules, outputs, verify, variables, env, problems), moved };
}

/** Each declared input variable checked on its own: the valid ones, and the names of those that are not. */
function checkVariables(source: SourceFile, raw: unknown, section: Record<string, unknown>, problems: ErrorDetail[]): CheckedVariables {
  const checked: CheckedVariables = { declarations: [], invalid: new Set() };
  for (const [name, entry] of Object.entries(section)) {
    checked.invalid.add(name);
    const badName = variableNameProblem(name);
    if (badName) {
      problems.push(source.keyDetail(["variables", name], badName, undefined, `variables.${name}`));
      continue;
    }
    if (entry !== null && (typeof entry !== "object" || Array.isArray(entry))) {
      problems.push(source.detail(["variables", name], `variable "${name}" must be a mapping (type, default, description, sensitive, validation), or empty`, undefined, `variables.${name}`));
      continue;
    }
    const parsed = variableSchema.safeParse(entry ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({ ...issue, path: ["variables", name, ...issue.path] }));
      problems.push(...schemaDetails(source, raw, issues as typeof parsed.error.issues));
      continue;
    }
    const declaration = declareVariable(source, name, parsed.data, problems);
    if (!declaration) continue;
    checked.invalid.delete(name);
    checked.declarations.push(declaration);
  }
  return checked;
}

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
