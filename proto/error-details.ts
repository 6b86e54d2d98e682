// An error's details on the wire, for the plugin boundary (grpc.ts) and the
// socket API (connect-errors.ts) alike: the `wfctl-error-details` trailer is
// the proto3 JSON of wfctl.plugin.v1.ErrorDetails ({"problems": [...],
// "omitted": N, "lock": {...}}), percent-encoded (encodeURIComponent) so the
// value is ASCII. Written and read here only, with the generated schema
// (errors_pb.ts). Readers also accept the form before it: a JSON array of
// problems, with the omitted count in its own `wfctl-error-details-omitted`.
import { create, fromJson, toJsonString, type JsonValue } from "@bufbuild/protobuf";
import { type ErrorDetails, ErrorDetailsSchema, type Problem, ProblemSchema } from "./gen/wfctl/plugin/v1/errors_pb.js";
import { LockInfoSchema } from "./gen/wfctl/plugin/v1/state_pb.js";
import type { ErrorDetail, WfctlError, WfctlErrorOptions } from "./errors.js";
import { type LockInfo, lockFromProto, lockToProto } from "./lock-info.js";

/** Metadata key (trailer for gRPC) of the encoded ErrorDetails. */
export const ERROR_DETAILS_KEY = "wfctl-error-details";
/** The omitted count of peers that send details as a JSON array (read, never written). */
export const LEGACY_OMITTED_KEY = "wfctl-error-details-omitted";

/**
 * Details travel in a header (trailer for gRPC), and a peer refuses headers
 * past 16 KiB in all (Node's default): hundreds of problems once overflowed it
 * and the real error was lost. So the encoded value is at most `bytes`: the
 * lock first (at most `lockBytes`, its texts cut short if need be), then at
 * most `count` problems in what is left; the problems left out are counted
 * in `omitted`.
 */
export const WIRE_DETAILS = { count: 20, bytes: 8 * 1024, lockBytes: 2 * 1024 } as const;

/** What an error's details are, as one value: what is encoded, and what decoding gives back. */
export type WireDetails = Required<Pick<WfctlErrorOptions, "details" | "omitted">> & Pick<WfctlErrorOptions, "lock">;

const cut = (s: string, chars: number) => (s.length > chars ? `${s.slice(0, chars)}…` : s);

/** A count as a uint32 field holds it: 0 when it is not a positive integer. */
function uint32(n: number | undefined): number {
  return n !== undefined && Number.isInteger(n) && n > 0 && n <= 0xffffffff ? n : 0;
}

function problemOf(d: ErrorDetail, chars: number): Omit<Problem, "$typeName"> {
  return {
    message: cut(d.message, chars),
    file: cut(d.file ?? "", chars),
    line: uint32(d.line),
    column: uint32(d.column),
    module: cut(d.module ?? "", chars),
    field: cut(d.field ?? "", chars),
  };
}

function detailOf(p: Problem): ErrorDetail {
  return {
    message: p.message,
    ...(p.file ? { file: p.file } : {}),
    ...(p.line ? { line: p.line } : {}),
    ...(p.column ? { column: p.column } : {}),
    ...(p.module ? { module: p.module } : {}),
    ...(p.field ? { field: p.field } : {}),
  };
}

/** The encoded form of one ErrorDetails message. */
function encoded(details: Omit<ErrorDetails, "$typeName">): string {
  return encodeURIComponent(toJsonString(ErrorDetailsSchema, create(ErrorDetailsSchema, details)));
}

/** The lock with each text cut short enough for its encoding to fit WIRE_DETAILS.lockBytes (its id is cut last). */
function boundLock(lock: LockInfo): Omit<ErrorDetails, "$typeName">["lock"] {
  const message = create(LockInfoSchema, lockToProto(lock));
  for (const chars of [Infinity, 256, 64, 16]) {
    const fit = { ...message };
    for (const key of ["resourceId", "holder", "operation", "createdAt", "version", "host"] as const) fit[key] = cut(fit[key], chars);
    if (chars === 16) fit.lockId = cut(fit.lockId, 128);
    if (encoded({ problems: [], omitted: 0, lock: fit }).length <= WIRE_DETAILS.lockBytes || chars === 16) return fit;
  }
  return message;
}

/**
 * The problems that fit in `budget` encoded bytes beside the rest (at most
 * WIRE_DETAILS.count), and how many did not. The first always goes, its
 * texts cut short enough to fit.
 */
export function boundDetails(details: readonly ErrorDetail[], budget: number = WIRE_DETAILS.bytes): { kept: Problem[]; omitted: number } {
  const kept: Problem[] = [];
  const size = (problems: Problem[]) => encoded({ problems, omitted: 0 }).length;
  for (const detail of details.slice(0, WIRE_DETAILS.count)) {
    let problem = create(ProblemSchema, problemOf(detail, 2000));
    if (kept.length === 0) {
      for (const chars of [200, 50]) {
        if (size([problem]) <= budget) break;
        problem = create(ProblemSchema, problemOf(detail, chars));
      }
    }
    if (kept.length > 0 && size([...kept, problem]) > budget) break;
    kept.push(problem);
  }
  return { kept, omitted: details.length - kept.length };
}

/** The `wfctl-error-details` value of an error (ASCII, at most WIRE_DETAILS.bytes), or undefined when it has no details. */
export function encodeErrorDetails(error: Pick<WfctlError, "details" | "omitted" | "lock">): string | undefined {
  const lock = error.lock ? boundLock(error.lock) : undefined;
  const lockSize = lock ? encoded({ problems: [], omitted: 0, lock }).length : 0;
  const { kept, omitted } = boundDetails(error.details, WIRE_DETAILS.bytes - lockSize);
  const value = () => encoded({ problems: kept, omitted: uint32(error.details.length - kept.length + error.omitted), ...(lock ? { lock } : {}) });
  if (kept.length === 0 && omitted + error.omitted === 0 && !lock) return undefined;
  // The lock and the problems were bounded apart: what joins them (and the count) may still tip it over.
  while (kept.length > 1 && value().length > WIRE_DETAILS.bytes) kept.pop();
  return value();
}

/** The metadata entries that carry an error's details (none when it has none). */
export function detailsMetadata(error: Pick<WfctlError, "details" | "omitted" | "lock">): [key: string, value: string][] {
  const value = encodeErrorDetails(error);
  return value === undefined ? [] : [[ERROR_DETAILS_KEY, value]];
}

/** A count a legacy peer sent in LEGACY_OMITTED_KEY (0 when absent or not a count). */
function legacyOmitted(value: string | undefined): number {
  const n = Number(value ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** Problems of the legacy form: a JSON array of objects with a string message. */
function legacyProblems(parsed: unknown[]): ErrorDetail[] {
  return parsed
    .filter((d): d is Record<string, unknown> => typeof d === "object" && d !== null && typeof (d as { message?: unknown }).message === "string")
    .map((d) => {
      const text = (key: string) => (typeof d[key] === "string" && d[key] !== "" ? { [key]: d[key] as string } : {});
      const count = (key: string) => (uint32(d[key] as number) > 0 ? { [key]: d[key] as number } : {});
      return { message: d["message"] as string, ...text("file"), ...count("line"), ...count("column"), ...text("module"), ...text("field") };
    });
}

/**
 * The details a peer sent: `value` of ERROR_DETAILS_KEY (either form), and
 * for the legacy form, `omittedValue` of LEGACY_OMITTED_KEY. Anything that is
 * neither form is no details (the code and message still stand).
 */
export function decodeErrorDetails(value: string | undefined, omittedValue?: string): WireDetails {
  const none: WireDetails = { details: [], omitted: legacyOmitted(omittedValue) };
  if (!value) return none;
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeURIComponent(value));
  } catch {
    return none;
  }
  if (Array.isArray(parsed)) return { ...none, details: legacyProblems(parsed) };
  try {
    const details = wireDetailsOf(fromJson(ErrorDetailsSchema, parsed as JsonValue, { ignoreUnknownFields: true }));
    return { ...details, omitted: details.omitted || none.omitted };
  } catch {
    return none;
  }
}

/** An ErrorDetails message (as a batch item's CallError holds it) as an error's details. */
export function wireDetailsOf(message: ErrorDetails): WireDetails {
  return {
    details: message.problems.map(detailOf),
    omitted: message.omitted,
    ...(message.lock ? { lock: lockFromProto(message.lock) } : {}),
  };
}

/** An error's details as an ErrorDetails message, bounded as the trailer is (undefined when it has none). */
export function errorDetailsMessage(error: Pick<WfctlError, "details" | "omitted" | "lock">): ErrorDetails | undefined {
  const value = encodeErrorDetails(error);
  return value === undefined ? undefined : fromJson(ErrorDetailsSchema, JSON.parse(decodeURIComponent(value)) as JsonValue);
}
