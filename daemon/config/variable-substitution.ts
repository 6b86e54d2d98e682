// Input variables applied to a loaded configuration, for one request: every
// `${var.NAME}` in a module's configuration (state, provider and resource
// modules, environment overrides included) replaced by the variable's value.
// A string that is exactly `${var.NAME}` takes the value with its type; one
// inside a longer string is replaced by its text (a list or map as JSON).
// Applied after the parsed configuration is cached (load.ts), so the cache
// stays a function of the file's text and environment alone.
//
// In a resource's configuration, the values go in escaped (`${` as `$${`):
// its `${module.field}` references are resolved later, at plan time, and a
// value is never read as one. A resource field a sensitive variable's value
// went into is listed in `sensitiveFields` (taint, as for references): masked
// in plans and sealed in state.
import { type JsonObject, type JsonValue, isJsonObject } from "../../proto/json.js";
import type { InfraConfig, ResolvedVariable, ResourceModule } from "./model.js";
import { type VariableInputs, resolveVariables } from "./variable-values.js";
import { VARIABLE_PREFIX, isVariableExpression } from "./variables.js";

const PATTERN = /\$\$\{|\$\{([^}]*)\}/g;
const WHOLE = /^\$\{([^}]*)\}$/;

/** `text` with every `${` written `$${` (split and joined: a replacement string would read `$$` as `$`). */
function escapedText(text: string): string {
  return text.split("${").join("$${");
}

/** `value` with every `${` in its strings written `$${`, so reference resolution keeps it as text. */
function escaped(value: JsonValue): JsonValue {
  if (typeof value === "string") return escapedText(value);
  if (Array.isArray(value)) return value.map(escaped);
  if (isJsonObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escaped(v)]));
  return value;
}

/** Replaces `${var.NAME}` in one configuration; `escape` for a resource's; `tainted` hears each top-level field a sensitive value went into. */
class Substitution {
  constructor(
    private readonly values: ReadonlyMap<string, ResolvedVariable>,
    private readonly escape: boolean,
    private readonly tainted: (field: string) => void,
  ) {}

  config(config: JsonObject): JsonObject {
    return Object.fromEntries(Object.entries(config).map(([key, value]) => [key, this.value(value, key)]));
  }

  private value(value: JsonValue, top: string): JsonValue {
    if (typeof value === "string") return value.includes("${") ? this.string(value, top) : value;
    if (Array.isArray(value)) return value.map((item) => this.value(item, top));
    if (isJsonObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, this.value(item, top)]));
    return value;
  }

  /** The variable an expression names, noting its sensitivity; undefined for anything else (a reference). */
  private variable(expression: string, top: string): ResolvedVariable | undefined {
    const trimmed = expression.trim();
    if (!isVariableExpression(trimmed)) return undefined;
    const variable = this.values.get(trimmed.slice(VARIABLE_PREFIX.length));
    if (variable?.sensitive) this.tainted(top);
    return variable;
  }

  private string(value: string, top: string): JsonValue {
    const whole = WHOLE.exec(value);
    const one = whole?.[1] !== undefined ? this.variable(whole[1], top) : undefined;
    if (one) return this.escape ? escaped(one.value) : one.value;
    return value.replace(PATTERN, (match: string, expression: string | undefined) => {
      // `$${` (an escape) and references stay as written, for whoever reads them next.
      const variable = expression === undefined ? undefined : this.variable(expression, top);
      if (!variable) return match;
      const text = typeof variable.value === "string" ? variable.value : JSON.stringify(variable.value);
      return this.escape ? escapedText(text) : text;
    });
  }
}

/** A resource with its variables substituted and the fields a sensitive one went into. */
function substituteResource(resource: ResourceModule, values: ReadonlyMap<string, ResolvedVariable>): ResourceModule {
  const sensitive = new Set(resource.sensitiveFields);
  const config = new Substitution(values, true, (field) => sensitive.add(field)).config(resource.config);
  return { ...resource, config, sensitiveFields: [...sensitive].sort() };
}

/** `config` with `variables` substituted into every module's configuration. */
export function substituteVariables(config: InfraConfig, variables: readonly ResolvedVariable[]): InfraConfig {
  const values = new Map(variables.map((v) => [v.name, v]));
  const plain = new Substitution(values, false, () => {});
  return {
    ...config,
    state: { ...config.state, config: plain.config(config.state.config) },
    providers: new Map([...config.providers].map(([name, provider]) => [name, { ...provider, config: plain.config(provider.config) }])),
    resources: config.resources.map((resource) => substituteResource(resource, values)),
    variables: [...variables],
  };
}

/**
 * `config` as one request sees it: its variables given their values (from
 * `inputs`) and substituted. CONFIG_INVALID or INVALID_ARGUMENT when a value
 * is missing, undeclared, of the wrong type or fails validation.
 */
export async function applyVariables(config: InfraConfig, inputs: VariableInputs): Promise<InfraConfig> {
  const variables = await resolveVariables(config, inputs);
  return variables.length === 0 ? config : substituteVariables(config, variables);
}
