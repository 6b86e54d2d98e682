// Secret redaction for anything that leaves a process as text: logs, traces,
// audit lines, plain output. Keys that name secrets are masked wherever they
// appear; `*_ref` keys (names of other modules) stay readable.
import type { JsonObject, JsonValue } from "./json.js";
import { isJsonObject } from "./json.js";

/** What a masked value prints as. */
export const REDACTED = "(sensitive)";

const SENSITIVE = /(credential|password|passwd|secret|token|private_?key|api_?key|access_?key|session_?key)/i;

/** Does this key name a secret? (`db_password` yes, `password_ref` no.) */
export function isSensitiveKey(key: string): boolean {
  if (/_ref$/i.test(key) || /Ref$/.test(key)) return false;
  return SENSITIVE.test(key);
}

/** A deep copy with every sensitive key's value masked (whole subtree). */
export function redact(value: JsonValue, extraSensitive: ReadonlySet<string> = new Set()): JsonValue {
  if (Array.isArray(value)) return value.map((v) => redact(v, extraSensitive));
  if (isJsonObject(value)) {
    const out: JsonObject = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = isSensitiveKey(key) || extraSensitive.has(key) ? REDACTED : redact(v, extraSensitive);
    }
    return out;
  }
  return value;
}
