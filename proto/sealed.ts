// Sealed values: how a sensitive field's configured value is kept in state.
// State never holds the value itself, only {"$wfctl_sealed": "scrypt$N$salt$hash"}:
// a salted, deliberately slow hash of its canonical JSON, enough to tell
// whether a value is still the one applied (a plan stays empty, drift stays
// in sync) and useless for finding the value. Only the host side uses it (the
// daemon, and the conformance kit acting as the daemon): it seals before
// saving, and compares a plugin's plan and drift answers with the seals in
// the prior it sent (sealed-compare.ts). A plugin sees a seal as an opaque
// value and never needs this format.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from "node:crypto";
import { type JsonObject, type JsonValue, canonicalJson, isJsonObject, jsonEqual } from "./json.js";

export const SEALED_KEY = "$wfctl_sealed";

/** scrypt cost: ~20-40 ms a value here, so a guess costs the same. */
const N = 16_384;
const KEY_LENGTH = 32;

export type SealedValue = { [SEALED_KEY]: string };

export function isSealed(value: JsonValue | undefined): value is SealedValue {
  return isJsonObject(value) && Object.keys(value).length === 1 && typeof value[SEALED_KEY] === "string";
}

function hash(value: JsonValue, salt: Buffer, cost: number): Buffer {
  return scryptSync(canonicalJson(value), salt, KEY_LENGTH, { N: cost, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
}

/** Seals a value with a fresh salt. */
export function seal(value: JsonValue): SealedValue {
  const salt = randomBytes(16);
  return { [SEALED_KEY]: `scrypt$${N}$${salt.toString("base64")}$${hash(value, salt, N).toString("base64")}` };
}

/** A seal's parts, or undefined when it is malformed. */
function sealParts(sealed: SealedValue): { salt: Buffer; cost: number; expected: Buffer } | undefined {
  const [kind, cost, salt, digest] = sealed[SEALED_KEY].split("$");
  const n = Number(cost);
  if (kind !== "scrypt" || !Number.isInteger(n) || n < 2 || n > 1 << 20 || salt === undefined || digest === undefined) return undefined;
  const expected = Buffer.from(digest, "base64");
  return expected.length === KEY_LENGTH ? { salt: Buffer.from(salt, "base64"), cost: n, expected } : undefined;
}

/** Whether `value` is the one that was sealed; false for anything malformed. */
export function matchesSealed(value: JsonValue | undefined, sealed: SealedValue): boolean {
  if (value === undefined) return false;
  if (isSealed(value)) return value[SEALED_KEY] === sealed[SEALED_KEY];
  const parts = sealParts(sealed);
  return parts !== undefined && timingSafeEqual(hash(value, parts.salt, parts.cost), parts.expected);
}

/** matchesSealed, hashing on libuv's thread pool: a daemon comparing many seals keeps serving meanwhile. */
export async function matchesSealedAsync(value: JsonValue | undefined, sealed: SealedValue): Promise<boolean> {
  if (value === undefined) return false;
  if (isSealed(value)) return value[SEALED_KEY] === sealed[SEALED_KEY];
  const parts = sealParts(sealed);
  if (!parts) return false;
  const { salt, cost, expected } = parts;
  const actual = await new Promise<Buffer>((resolve, reject) => {
    scrypt(canonicalJson(value), salt, KEY_LENGTH, { N: cost, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
  return timingSafeEqual(actual, expected);
}

/** Equality where either side may be sealed: a sealed value equals the value it seals. */
export function sameValue(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (isSealed(a)) return matchesSealed(b, a);
  if (isSealed(b)) return matchesSealed(a, b);
  return jsonEqual(a ?? null, b ?? null);
}

/** Equality of two configurations, field by field, sealed values included. */
export function sameConfig(a: JsonObject, b: JsonObject): boolean {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const name of names) if (!sameValue(a[name], b[name])) return false;
  return true;
}

/**
 * `config` with the values of the `sensitive` fields sealed. A value that
 * `prior` already seals keeps that seal, so state does not change when the
 * value has not.
 */
export function sealFields(config: JsonObject, sensitive: ReadonlySet<string>, prior?: JsonObject): JsonObject {
  let out: JsonObject | undefined;
  for (const name of sensitive) {
    const value = config[name];
    if (value === undefined || value === null || isSealed(value)) continue;
    const before = prior?.[name];
    out ??= { ...config };
    out[name] = isSealed(before) && matchesSealed(value, before) ? before : seal(value);
  }
  return out ?? config;
}
