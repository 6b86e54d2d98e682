// The types of input variables and their rules, as pure functions: whether a
// value is of a type, how text from a flag or the environment becomes a value
// of a type, and whether a value passes a `validation:` rule. Messages never
// quote the value (it may be a secret); callers add it when it is not.
import { Script, createContext } from "node:vm";
import { parseDocument } from "yaml";
import { type JsonValue, isJsonObject } from "../../proto/json.js";
import type { VariableRule, VariableType } from "./model.js";

/** A type in words, as messages say it: "must be a number". */
export const TYPE_WORDS: Record<VariableType, string> = {
  string: "a string",
  number: "a number",
  bool: "true or false",
  list: "a list",
  map: "a map",
};

/** Whether `value` is plain JSON: finite numbers, strings, booleans, null, lists and maps of them. */
export function isJson(value: unknown): value is JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJson);
  if (isJsonObject(value)) return Object.getPrototypeOf(value) === Object.prototype && Object.values(value).every(isJson);
  return false;
}

/** Why `value` is not of `type` ("must be a number"), or undefined when it is. */
export function typeProblem(value: unknown, type: VariableType): string | undefined {
  const ok =
    type === "string"
      ? typeof value === "string"
      : type === "number"
        ? typeof value === "number" && Number.isFinite(value)
        : type === "bool"
          ? typeof value === "boolean"
          : type === "list"
            ? Array.isArray(value) && isJson(value)
            : isJsonObject(value) && isJson(value);
  if (ok) return undefined;
  const hint = type === "string" && (typeof value === "number" || typeof value === "boolean") ? ' (quote it: "…")' : "";
  return `must be ${TYPE_WORDS[type]}${hint}`;
}

/** The type a declaration without `type:` has: its default's, else string. */
export function inferType(value: unknown): VariableType {
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "bool";
  if (Array.isArray(value)) return "list";
  if (isJsonObject(value)) return "map";
  return "string";
}

const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The value that raw `text` (a --var or WFCTL_VAR_ value) stands for as a
 * `type`: a string as it is; a number in decimal; a bool as true or false; a
 * list or map as JSON or YAML flow (`[a, b]`, `{k: v}`).
 */
export function parseVariableText(text: string, type: VariableType): { value: JsonValue } | { problem: string } {
  const word = TYPE_WORDS[type];
  switch (type) {
    case "string":
      return { value: text };
    case "number":
      return NUMBER_TEXT.test(text.trim()) && Number.isFinite(Number(text)) ? { value: Number(text) } : { problem: `must be ${word} (e.g. 3 or 2.5)` };
    case "bool":
      return text === "true" || text === "false" ? { value: text === "true" } : { problem: `must be ${word}` };
    default: {
      const example = type === "list" ? '["a", "b"] or [a, b]' : '{"key": "value"} or {key: value}';
      const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
      let value: unknown;
      try {
        value = doc.errors.length === 0 ? doc.toJS({ maxAliasCount: 10 }) : undefined;
      } catch {
        value = undefined;
      }
      const problem = typeProblem(value, type);
      return problem === undefined ? { value: value as JsonValue } : { problem: `must be ${word}, written as JSON or YAML flow (${example})` };
    }
  }
}

/** The size min/max compare: a number's value, a string's length in characters, a list's or map's number of entries. */
function sizeOf(value: JsonValue): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string") return [...value].length;
  if (Array.isArray(value)) return value.length;
  if (isJsonObject(value)) return Object.keys(value).length;
  return undefined;
}

/**
 * How long one pattern may take to test a value. Patterns and values both
 * come from the caller, and a pattern that backtracks catastrophically (such
 * as `^(a+)+$`) would otherwise hold the daemon's event loop, which serves
 * every client, for as long as it runs.
 */
export const PATTERN_TIMEOUT_MS = 250;
const patternTest = new Script("pattern.test(value)");
const patternContext = createContext({});

/** Whether `pattern` matches `value`, or "timeout" when testing it ran past PATTERN_TIMEOUT_MS. */
function matches(pattern: string, value: string): boolean | "timeout" {
  Object.assign(patternContext, { pattern: new RegExp(pattern, "u"), value });
  try {
    return patternTest.runInContext(patternContext, { timeout: PATTERN_TIMEOUT_MS }) === true;
  } catch {
    return "timeout";
  } finally {
    Object.assign(patternContext, { pattern: undefined, value: undefined });
  }
}

/** Why `value` (already of the variable's type) fails `rule`: its message, or that its pattern took too long; undefined when it passes. */
export function ruleFailure(value: JsonValue, rule: VariableRule): string | undefined {
  if (rule.pattern !== undefined) {
    const matched = typeof value === "string" && matches(rule.pattern, value);
    if (matched === "timeout") return `its pattern took longer than ${PATTERN_TIMEOUT_MS} ms to test (it backtracks too much: simplify the regular expression)`;
    if (!matched) return rule.message;
  }
  if (rule.allowed !== undefined && !rule.allowed.some((allowed) => allowed === value)) return rule.message;
  const size = sizeOf(value);
  if (rule.min !== undefined && (size === undefined || size < rule.min)) return rule.message;
  if (rule.max !== undefined && (size === undefined || size > rule.max)) return rule.message;
  return undefined;
}

/** Problems of a rule for a variable of `type`: checks that do not apply to it, allowed values of another type, min above max. */
export function ruleProblems(rule: VariableRule, type: VariableType): { key: "pattern" | "allowed" | "min" | "max"; message: string }[] {
  const problems: { key: "pattern" | "allowed" | "min" | "max"; message: string }[] = [];
  if (rule.pattern !== undefined && type !== "string") problems.push({ key: "pattern", message: `applies to strings only (this variable is ${TYPE_WORDS[type]})` });
  if (rule.allowed !== undefined) {
    if (type === "list" || type === "map") problems.push({ key: "allowed", message: `applies to strings, numbers and bools only (this variable is ${TYPE_WORDS[type]})` });
    else if (rule.allowed.some((v) => typeProblem(v, type) !== undefined)) problems.push({ key: "allowed", message: `each value must be ${TYPE_WORDS[type]}, as the variable is` });
  }
  for (const key of ["min", "max"] as const) {
    if (rule[key] !== undefined && type === "bool") problems.push({ key, message: "applies to numbers and to lengths of strings, lists and maps, not to bools" });
  }
  if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) problems.push({ key: "min", message: `is greater than max (${rule.max})` });
  return problems;
}
