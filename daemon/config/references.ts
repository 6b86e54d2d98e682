// References between resources: a string in a resource's configuration may
// name another resource's field as `${module.field}` (the module by the name
// written at its top, the field from its configuration or its outputs,
// dotted for nested values). A string that is exactly one reference takes the
// field's value whatever its type; references inside a longer string are
// replaced by their text. `$${` writes a literal `${`. The engine orders
// resources by their references, as by depends_on.
//
// Sensitivity travels with values (taint): a lookup may say that the value
// it gives is sensitive (a provider output its schema marks sensitive, a
// field whose name says it is a secret), and every place that value lands,
// whole or as part of a longer string, however deep in a map or list, is
// reported, so that the field holding it is masked and sealed as if the
// schema had marked it.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { FieldMap } from "../../proto/fields.js";
import { type JsonObject, type JsonValue, isJsonObject } from "../../proto/json.js";
import { isSensitiveKey } from "../../proto/redact.js";
import { isSealed } from "../../proto/sealed.js";

/** One `${…}` in a configuration. */
export interface Reference {
  /** Where in the configuration: keys and list indexes from the top. */
  path: (string | number)[];
  /** The text between `${` and `}`. */
  expression: string;
}

/** A referenced value not known until the resource it comes from is applied. */
export const UNKNOWN = Symbol("known after apply");

/** What a lookup gives for a sensitive source: the value (or UNKNOWN), marked. */
export class SensitiveValue {
  constructor(readonly value: JsonValue | typeof UNKNOWN) {}
}

export type Lookup = (expression: string) => Promise<JsonValue | typeof UNKNOWN | SensitiveValue>;

/** A configuration with its references resolved. */
export interface ResolvedConfig {
  config: JsonObject;
  /** Top-level fields holding a value not known yet (they hold KNOWN_AFTER_APPLY). */
  unknown: string[];
  /** Where a sensitive value landed, wholly or in part: keys and list indexes from the top, in config order. */
  sensitive: (string | number)[][];
}

/**
 * Whether field `field` (dotted) of a resource whose type has `fields` is a
 * sensitive source: its top-level field is schema-sensitive, or its own name
 * says it is a secret (`password`, `token`, …), as outputs judge.
 */
export function isSensitiveField(fields: FieldMap, field: string): boolean {
  const top = field.split(".")[0] ?? field;
  const last = field.split(".").pop() ?? field;
  return (fields[top]?.sensitive ?? false) || isSensitiveKey(last);
}

/** The top-level fields of `paths` (from ResolvedConfig.sensitive), once each, sorted. */
export function topFields(paths: readonly (readonly (string | number)[])[]): string[] {
  return [...new Set(paths.map((path) => String(path[0])))].sort();
}

/** What plans show for a value known only after apply. */
export const KNOWN_AFTER_APPLY = "(known after apply)";

const PATTERN = /\$\$\{|\$\{([^}]*)\}/g;

/**
 * Every reference in `value`, with where it is. Called for every resource
 * on every plan (and while parsing): it allocates nothing for a value
 * without `${` (a path is copied only for a reference found).
 */
export function findReferences(value: JsonValue, path: (string | number)[] = []): Reference[] {
  const found: Reference[] = [];
  collectReferences(value, [...path], found);
  return found;
}

/** findReferences, into `found`; `path` is where `value` is, pushed and popped as it goes down. */
function collectReferences(value: JsonValue, path: (string | number)[], found: Reference[]): void {
  if (typeof value === "string") {
    if (!value.includes("${")) return;
    for (const match of value.matchAll(PATTERN)) if (match[1] !== undefined) found.push({ path: [...path], expression: match[1].trim() });
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      collectReferences(value[i] as JsonValue, path, found);
      path.pop();
    }
  } else if (isJsonObject(value)) {
    for (const key of Object.keys(value)) {
      path.push(key);
      collectReferences(value[key] as JsonValue, path, found);
      path.pop();
    }
  }
}

/** Whether `config` holds anything to resolve: a reference, or a `$${` escape. */
export function hasReferences(value: JsonValue): boolean {
  if (typeof value === "string") return value.includes("${");
  if (Array.isArray(value)) return value.some(hasReferences);
  if (isJsonObject(value)) return Object.values(value).some(hasReferences);
  return false;
}

/**
 * Splits an expression into the module it names and the field, the longest
 * known module name winning (module names may contain dots).
 */
export function splitExpression(expression: string, modules: ReadonlySet<string>): { module: string; field: string } | undefined {
  for (let i = expression.lastIndexOf("."); i > 0; i = expression.lastIndexOf(".", i - 1)) {
    const module = expression.slice(0, i);
    if (modules.has(module)) return { module, field: expression.slice(i + 1) };
  }
  return undefined;
}

/** The value at a dotted path, or undefined. */
export function valueAt(object: JsonObject, field: string): JsonValue | undefined {
  let value: JsonValue | undefined = object;
  for (const key of field.split(".")) {
    if (!isJsonObject(value)) return undefined;
    value = value[key];
  }
  return value;
}

function asText(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * `config` with every reference replaced by what `lookup` gives. Top-level
 * fields holding a value not known yet are listed in `unknown` and hold
 * KNOWN_AFTER_APPLY; every string a sensitive value went into is listed in
 * `sensitive` by its path (known or not: a secret known only after apply is
 * a secret all the same).
 */
export async function resolveReferences(config: JsonObject, lookup: Lookup): Promise<ResolvedConfig> {
  const unknown = new Set<string>();
  const sensitive: (string | number)[][] = [];
  /** The value a lookup gives, unwrapped; its sensitivity noted at `path`. */
  const look = async (expression: string, path: (string | number)[]): Promise<JsonValue | typeof UNKNOWN> => {
    const found = await lookup(expression);
    if (!(found instanceof SensitiveValue)) return found;
    if (!sensitive.some((p) => p.length === path.length && p.every((k, i) => k === path[i]))) sensitive.push(path);
    return found.value;
  };
  const resolveString = async (value: string, path: (string | number)[]): Promise<JsonValue> => {
    const top = String(path[0]);
    const whole = /^\$\{([^}]*)\}$/.exec(value);
    if (whole?.[1] !== undefined) {
      const found = await look(whole[1].trim(), path);
      if (found === UNKNOWN) {
        unknown.add(top);
        return KNOWN_AFTER_APPLY;
      }
      return found;
    }
    let out = "";
    let last = 0;
    let pending = false;
    for (const match of value.matchAll(PATTERN)) {
      out += value.slice(last, match.index);
      last = match.index + match[0].length;
      if (match[1] === undefined) {
        out += "${";
        continue;
      }
      const found = await look(match[1].trim(), path);
      if (found === UNKNOWN) pending = true;
      else out += asText(found);
    }
    // A string with any part unknown is unknown as a whole.
    if (pending) {
      unknown.add(top);
      return KNOWN_AFTER_APPLY;
    }
    return out + value.slice(last);
  };
  const resolve = async (value: JsonValue, path: (string | number)[]): Promise<JsonValue> => {
    if (typeof value === "string") return resolveString(value, path);
    if (Array.isArray(value)) {
      const items: JsonValue[] = [];
      for (const [i, item] of value.entries()) items.push(await resolve(item, [...path, i]));
      return items;
    }
    if (isJsonObject(value)) {
      const out: JsonObject = {};
      for (const [key, item] of Object.entries(value)) out[key] = await resolve(item, [...path, key]);
      return out;
    }
    return value;
  };
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(config)) out[key] = await resolve(value, [key]);
  return { config: out, unknown: [...unknown].sort(), sensitive };
}

/**
 * A field of an applied resource: its outputs first, then its configuration.
 * A sensitive configuration value is sealed in state and cannot be used.
 */
export function fieldOfRecord(record: { resourceId: string; outputs: JsonObject; config: JsonObject }, field: string, expression: string): JsonValue {
  const value = valueAt(record.outputs, field) ?? valueAt(record.config, field);
  if (value === undefined) {
    const known = [...new Set([...Object.keys(record.outputs), ...Object.keys(record.config)])].sort().join(", ");
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `reference \${${expression}}: resource "${record.resourceId}" has no field "${field}" (it has: ${known || "none"})`);
  }
  if (isSealed(value)) {
    throw new WfctlError(
      ErrorCode.CONFIG_INVALID,
      `reference \${${expression}}: field "${field}" of "${record.resourceId}" is sensitive configuration, which state keeps sealed; reference an output instead`,
    );
  }
  return value;
}
