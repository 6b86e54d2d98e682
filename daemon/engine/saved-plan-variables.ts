// The input variables of a saved plan: what `plan --out` was given, so that
// `apply FILE` resolves the configuration with exactly those values. A
// sensitive variable is kept only as a seal (proto/sealed.ts): apply takes its
// value again from the step's environment (WFCTL_VAR_<name>) and checks it
// against the seal; every other value is in the file and used as planned.
import { z } from "zod";
import { type JsonValue, isJsonObject } from "../../proto/json.js";
import { isSealed, sameValue, seal } from "../../proto/sealed.js";
import type { Section } from "./saved-plan-sections.js";

type VariablesCheck = Record<string, JsonValue>;

const jsonValue = z.custom<JsonValue>((v) => v === null || ["string", "number", "boolean", "object"].includes(typeof v), { message: "not a JSON value" });

/** Each declared variable's value as the plan used it, sensitive ones sealed. */
export const variables: Section<VariablesCheck> = {
  name: "variables",
  schema: z.record(z.string(), jsonValue),
  async record({ config }) {
    return Object.fromEntries(config.variables.map((v) => [v.name, v.sensitive ? seal(v.value) : v.value]));
  },
  async changed(saved, { config }) {
    const now = new Map(config.variables.map((v) => [v.name, v]));
    const problems: string[] = [];
    for (const [name, then] of Object.entries(saved)) {
      const variable = now.get(name);
      if (!variable) problems.push(`variable "${name}" is no longer declared in ${config.file}`);
      else if (!sameValue(then, variable.value)) {
        problems.push(
          isSealed(then)
            ? `the sensitive variable "${name}" has another value now than when planned (from ${variable.source}); give the planned value in WFCTL_VAR_${name}`
            : `variable "${name}" has another value now (from ${variable.source}) than the plan recorded`,
        );
      }
    }
    for (const name of now.keys()) if (!(name in saved)) problems.push(`variable "${name}" is declared now; the plan had no such variable`);
    return problems;
  },
};

/**
 * The values a saved plan's `variables` check holds in clear, as --var
 * gives them (text, parsed by each variable's type), for resolving the
 * configuration as planned; sealed (sensitive) ones are left to the request.
 */
export function plannedVariables(checks: Readonly<Record<string, JsonValue>>): Record<string, string> {
  const saved = checks["variables"];
  if (!isJsonObject(saved)) return {};
  return Object.fromEntries(
    Object.entries(saved).flatMap(([name, value]) => (value === undefined || isSealed(value) ? [] : [[name, typeof value === "string" ? value : JSON.stringify(value)]])),
  );
}
