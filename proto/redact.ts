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

/** Query parameters that carry credentials in URLs though their names do not say "secret": signatures and keys. */
const URL_SECRET_PARAM = /^(sig|signature|x-[a-z]+-signature|key|auth|authorization|code)$/i;

/** What a credential in a URL prints as. */
export const URL_REDACTED = "***";

/**
 * A URL fit to print: its userinfo (`user:password@`) and the values of
 * query parameters that look like credentials (`token`, `api_key`, `sig`,
 * …) replaced by ***. Anything else stays as written.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL: hide anything between "//" and "@" all the same.
    return url.replace(/\/\/[^/?#]*@/, `//${URL_REDACTED}@`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    parsed.username = URL_REDACTED;
    parsed.password = "";
  }
  const secrets = [...parsed.searchParams.keys()].filter((key) => isSensitiveKey(key) || URL_SECRET_PARAM.test(key));
  for (const key of new Set(secrets)) parsed.searchParams.set(key, URL_REDACTED);
  return parsed.href;
}
