// Input variables as the configuration declares and uses them, checked when
// the file is parsed (values come later, with each request: variable-values.ts).
// A declaration gives a type (or takes its default's), a default, a
// description, whether it is sensitive, and validation rules; a use is
// `${var.NAME}` in a module's configuration, which must name a declared
// variable.
import type { ErrorDetail } from "../../proto/errors.js";
import { type JsonObject, isJsonObject } from "../../proto/json.js";
import type { VariableDeclaration } from "./model.js";
import { findReferences, valueAt } from "./references.js";
import { type Resolution, problemAt } from "./resolution.js";
import { PROVIDER_MODULE, type RawVariable, STATE_MODULE, VARIABLE_NAME } from "./schema.js";
import type { SourceFile, YamlPath } from "./source.js";
import { inferType, isJson, ruleProblems, typeProblem } from "./variable-types.js";

/** The prefix of an expression that names an input variable: `${var.NAME}`. */
export const VARIABLE_PREFIX = "var.";

/** Whether a `${…}` expression names an input variable rather than a module's field. */
export function isVariableExpression(expression: string): boolean {
  return expression.startsWith(VARIABLE_PREFIX);
}

/** Why `name` cannot name a variable, or undefined. */
export function variableNameProblem(name: string): string | undefined {
  return VARIABLE_NAME.test(name) ? undefined : `variable name "${name}" must start with a letter or '_' and use only letters, digits and '_' (at most 128)`;
}

/** The declaration of variable `name` (its entry passed the schema), or undefined with its problems recorded. */
export function declareVariable(source: SourceFile, name: string, raw: RawVariable, problems: ErrorDetail[]): VariableDeclaration | undefined {
  const at = (path: YamlPath, message: string) => problems.push(source.detail(["variables", name, ...path], `variable "${name}": ${message}`, undefined, ["variables", name, ...path].join(".")));
  const before = problems.length;
  const type = raw.type ?? inferType(raw.default);
  if (raw.default !== undefined) {
    const problem = isJson(raw.default) ? typeProblem(raw.default, type) : "must be a plain value (a string, number, bool, list or map)";
    if (problem) at(["default"], `default ${problem}${raw.type ? "" : ` (its type, ${type}, is taken from the default unless type: says otherwise)`}`);
  }
  const validation = (raw.validation ?? []).map((rule, index) => {
    const checked = { pattern: rule.pattern, allowed: rule.allowed as VariableDeclaration["validation"][number]["allowed"], min: rule.min, max: rule.max, message: rule.message };
    for (const p of ruleProblems(checked, type)) at(["validation", index, p.key], `${p.key} ${p.message}`);
    return checked;
  });
  if (problems.length > before) return undefined;
  const where = source.locateKey(["variables", name]);
  return {
    name,
    type,
    default: raw.default as VariableDeclaration["default"],
    description: raw.description ?? "",
    sensitive: raw.sensitive ?? false,
    validation,
    location: `${source.file}:${where?.line ?? 0}`,
  };
}

/** "a, b" or "none", for messages listing the declared variables. */
export function declaredNames(names: Iterable<string>): string {
  return [...names].join(", ") || "none";
}

/**
 * Every `${var.…}` in the enabled modules' configurations names a declared
 * variable, and none chooses a provider's plugin or the state backend (those
 * decide which program runs before any value is known); the `verify:`
 * section takes none. Problems go to `r.problems`.
 */
export function checkVariableUses(r: Resolution, declared: ReadonlySet<string>, invalid: ReadonlySet<string>): void {
  const names = declaredNames(declared);
  for (const { index, base, raw, view } of r.enabled) {
    const override = r.env === "" ? undefined : raw.environments?.[r.env]?.config;
    for (const ref of findReferences(view.config)) {
      if (!isVariableExpression(ref.expression)) continue;
      const name = ref.expression.slice(VARIABLE_PREFIX.length);
      const field = ref.path.join(".");
      // Located where the value is written: under the environment's overrides when it comes from there.
      const fromOverride = isJsonObject(override) && valueAt(override as JsonObject, field) !== undefined;
      const where: YamlPath = fromOverride ? ["environments", r.env, "config", ...ref.path] : ["config", ...ref.path];
      const at = (message: string) => problemAt(r, index, where, base, `\${${ref.expression}}: ${message}`, `config.${field}`);
      const chooses = (view.type === PROVIDER_MODULE && ref.path[0] === "provider") || (view.type === STATE_MODULE && ref.path[0] === "backend");
      if (name.includes(".")) at(`names a part of a variable; write \${var.NAME} (declared: ${names})`);
      else if (chooses) at(`a variable cannot choose the ${view.type === PROVIDER_MODULE ? "provider plugin" : "state backend"}; write its name`);
      else if (!declared.has(name) && !invalid.has(name)) {
        at(`no variable named "${name}" is declared (declared: ${names})${declared.size === 0 ? '; declare it under a top-level "variables:" section' : ""}`);
      }
    }
  }
  const verify = (r.source.value() as { verify?: unknown }).verify;
  if (verify === undefined || verify === null) return;
  for (const ref of findReferences(verify as JsonObject)) {
    if (!isVariableExpression(ref.expression)) continue;
    const path = ["verify", ...ref.path];
    r.problems.push(r.source.detail(path, `\${${ref.expression}}: the verify section takes no variables; write the value (or an environment's override)`, undefined, path.join(".")));
  }
}
