// What the conformance kits share: the failure they throw and the few
// assertions they are written with, each saying what was expected and what
// happened instead.
import { type ErrorCode, WfctlError } from "../../proto/errors.js";
import { type JsonValue, canonicalJson } from "../../proto/json.js";

/** A failed expectation, with what was expected and what happened. */
export class ConformanceFailure extends Error {
  override name = "ConformanceFailure";
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

/** Deep equality of JSON values (object key order does not matter). */
export function same(actual: unknown, expected: unknown, what: string): void {
  const a = actual === undefined ? "undefined" : canonicalJson(actual as JsonValue);
  const e = expected === undefined ? "undefined" : canonicalJson(expected as JsonValue);
  check(a === e, `${what}: expected ${e.length > 300 ? `${e.slice(0, 300)}…` : e}, got ${a && a.length > 300 ? `${a.slice(0, 300)}…` : a}`);
}

/** `call`'s result; its failure as a ConformanceFailure naming the step. */
export async function attempt<T>(what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    const error = WfctlError.from(err);
    throw new ConformanceFailure(`${what} failed with ${error.code}: ${error.message}`, { cause: err });
  }
}

/** The error `promise` rejects with; a failure if it resolves. */
export async function rejection(promise: Promise<unknown>, what: string): Promise<WfctlError> {
  try {
    await promise;
  } catch (err) {
    return WfctlError.from(err);
  }
  throw new ConformanceFailure(`${what}: expected an error, but the call succeeded`);
}

export function expectCode(err: WfctlError, codes: readonly ErrorCode[], what: string): void {
  check(codes.includes(err.code), `${what}: expected ${codes.join(" or ")}, got ${err.code}: ${err.message}`);
}
