// JSON values as they cross the boundary in `*_json` bytes fields.
import { ErrorCode, WfctlError } from "./errors.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a value for a `*_json` field. */
export function encodeJson(value: JsonValue): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Decodes a `*_json` field holding an object; empty bytes decode to `{}`. */
export function decodeJsonObject(bytes: Uint8Array, what: string): JsonObject {
  if (bytes.byteLength === 0) return {};
  const value = decodeJson(bytes, what);
  if (!isJsonObject(value)) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${what}: expected a JSON object`);
  return value;
}

/** Decodes a `*_json` field; empty bytes decode to `undefined` (absent). */
export function decodeJsonValue(bytes: Uint8Array, what: string): JsonValue | undefined {
  return bytes.byteLength === 0 ? undefined : decodeJson(bytes, what);
}

function decodeJson(bytes: Uint8Array, what: string): JsonValue {
  try {
    return JSON.parse(decoder.decode(bytes)) as JsonValue;
  } catch (err) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${what}: not valid UTF-8 JSON (${(err as Error).message})`);
  }
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep equality of JSON values (object key order does not matter). */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** JSON with object keys sorted, so equal values serialize identically. */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isJsonObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as JsonValue)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
