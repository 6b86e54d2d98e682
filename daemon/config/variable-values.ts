// The values of a configuration's input variables for one request, lowest to
// highest precedence: each declaration's default, WFCTL_VAR_<name> from the
// request's environment (never the daemon's own), each --var-file in order
// (YAML or JSON, read by the daemon), then --var name=value. Every problem
// (an undeclared name, a wrong type, a missing value, a failed validation
// rule) is reported at once, each naming where the value came from; no
// message quotes a sensitive variable's value.
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { type JsonValue, isJsonObject } from "../../proto/json.js";
import { parseYamlFile } from "./load.js";
import type { InfraConfig, ResolvedVariable, VariableDeclaration } from "./model.js";
import { readConfigFile } from "./read.js";
import { configInvalid, formatDetail } from "./source.js";
import { isJson, parseVariableText, ruleFailure, typeProblem } from "./variable-types.js";
import { declaredNames } from "./variables.js";

/** What a request gives for input variables (engine Target fields). */
export interface VariableInputs {
  /** The client's environment: WFCTL_VAR_<name> is read from here. */
  environment: Readonly<Record<string, string>>;
  /** --var name=value, as typed. */
  variables: Readonly<Record<string, string>>;
  /** --var-file paths, absolute, later ones winning. */
  variableFiles: readonly string[];
}

/** The prefix of the environment variables that set input variables. */
export const VARIABLE_ENV_PREFIX = "WFCTL_VAR_";

/** A value and where it came from; `detail` locates a problem with it. */
interface Candidate {
  value: JsonValue;
  source: string;
  detail: (message: string) => ErrorDetail;
}

/** A short quotation of a value for a message, or nothing for a sensitive one. */
function quoted(value: JsonValue, declaration: VariableDeclaration): string {
  if (declaration.sensitive) return "";
  const text = JSON.stringify(value);
  return ` ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`;
}

/** Problems found so far, and the variables given a value that was refused (not reported again as missing). */
interface Problems {
  details: ErrorDetail[];
  refused: Set<string>;
}

/** The values of the --var-file at `path`, checked against the declarations (problems located in that file). */
async function valuesOfFile(path: string, config: InfraConfig, declared: ReadonlyMap<string, VariableDeclaration>, problems: Problems): Promise<Map<string, Candidate>> {
  const found = new Map<string, Candidate>();
  const text = await readConfigFile(path, { what: "variable file (--var-file)" });
  const { value, source } = await parseYamlFile(path, text);
  if (value === undefined || value === null) return found;
  if (!isJsonObject(value)) {
    problems.details.push(source.detail([], "a variable file must be a mapping of variable names to values (YAML, or a JSON object)", undefined, "--var-file"));
    return found;
  }
  for (const [name, item] of Object.entries(value)) {
    const declaration = declared.get(name);
    const detail = (message: string) => source.detail([name], message, undefined, name);
    const problem = !declaration
      ? `is not declared in ${config.file} (declared: ${declaredNames(declared.keys())})`
      : isJson(item)
        ? typeProblem(item, declaration.type)
        : "must be a plain value (a string, number, bool, list or map)";
    if (problem !== undefined) {
      problems.details.push(detail(`variable "${name}" ${problem}`));
      problems.refused.add(name);
    } else found.set(name, { value: item as JsonValue, source: `${path}:${detail("").line ?? 0}`, detail });
  }
  return found;
}

/** A value given as text (--var, WFCTL_VAR_), parsed by the declared type. */
function fromText(text: string, declaration: VariableDeclaration, source: string, field: string, problems: Problems): Candidate | undefined {
  const detail = (message: string): ErrorDetail => ({ field, message });
  const parsed = parseVariableText(text, declaration.type);
  if ("problem" in parsed) {
    problems.refused.add(declaration.name);
    problems.details.push(detail(`variable "${declaration.name}" ${parsed.problem}${declaration.sensitive || declaration.type === "string" ? "" : `, got ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)}`}`));
    return undefined;
  }
  return { value: parsed.value, source, detail };
}

/** Every value given for each variable, lowest precedence first. */
async function candidates(config: InfraConfig, inputs: VariableInputs, problems: Problems): Promise<Map<string, Candidate[]>> {
  const declared = new Map(config.variableDeclarations.map((d) => [d.name, d]));
  const given = new Map<string, Candidate[]>(config.variableDeclarations.map((d) => [d.name, []]));
  const add = (name: string, candidate: Candidate | undefined) => candidate && given.get(name)?.push(candidate);
  for (const d of config.variableDeclarations) {
    if (d.default !== undefined) add(d.name, { value: d.default, source: "default", detail: (message) => config.source.detail(["variables", d.name, "default"], message, undefined, `variables.${d.name}.default`) });
    const text = inputs.environment[`${VARIABLE_ENV_PREFIX}${d.name}`];
    if (text !== undefined) add(d.name, fromText(text, d, `${VARIABLE_ENV_PREFIX}${d.name}`, `${VARIABLE_ENV_PREFIX}${d.name}`, problems));
  }
  for (const path of inputs.variableFiles) {
    for (const [name, candidate] of await valuesOfFile(path, config, declared, problems)) add(name, candidate);
  }
  for (const [name, text] of Object.entries(inputs.variables)) {
    const declaration = declared.get(name);
    if (declaration) add(name, fromText(text, declaration, "--var", `--var ${name}`, problems));
    else {
      const message = `no variable named "${name}" is declared in ${config.file} (declared: ${declaredNames(declared.keys())})`;
      problems.details.push({ field: `--var ${name}`, message });
    }
  }
  return given;
}

/** The error for `problems`: CONFIG_INVALID when any is located in a file (the configuration or a --var-file), else INVALID_ARGUMENT (a flag or the environment). */
function variablesError(config: InfraConfig, problems: readonly ErrorDetail[]): WfctlError {
  if (problems.some((d) => d.file !== undefined)) return configInvalid(config.file, problems);
  const [first] = problems;
  const message =
    problems.length === 1 && first
      ? `invalid input variable: ${formatDetail(first)}`
      : `invalid input variables (${problems.length} problems):\n${problems.map((d) => `  ${formatDetail(d)}`).join("\n")}`;
  return new WfctlError(ErrorCode.INVALID_ARGUMENT, message, { details: problems });
}

/**
 * The value of every declared variable for a request, in declaration order;
 * CONFIG_INVALID or INVALID_ARGUMENT listing every problem.
 */
export async function resolveVariables(config: InfraConfig, inputs: VariableInputs): Promise<ResolvedVariable[]> {
  const problems: Problems = { details: [], refused: new Set() };
  const given = await candidates(config, inputs, problems);
  const resolved: ResolvedVariable[] = [];
  for (const d of config.variableDeclarations) {
    const chosen = given.get(d.name)?.at(-1);
    if (!chosen) {
      if (problems.refused.has(d.name)) continue;
      const missing = `variable "${d.name}" has no value: set it with --var ${d.name}=VALUE, in a --var-file, or with ${VARIABLE_ENV_PREFIX}${d.name} in the environment (or give it a default)`;
      // At the declaration's name (its position is not kept apart from its value's).
      const line = Number(d.location.slice(d.location.lastIndexOf(":") + 1));
      problems.details.push({ file: config.file, ...(line > 0 ? { line } : {}), field: `variables.${d.name}`, message: missing });
      continue;
    }
    const failure = d.validation.map((rule) => ruleFailure(chosen.value, rule)).find((f) => f !== undefined);
    if (failure !== undefined) {
      problems.details.push(chosen.detail(`variable "${d.name}": ${failure} (value${quoted(chosen.value, d)} from ${chosen.source})`));
      continue;
    }
    resolved.push({ name: d.name, value: chosen.value, sensitive: d.sensitive, source: chosen.source });
  }
  if (problems.details.length > 0) throw variablesError(config, problems.details);
  return resolved;
}
