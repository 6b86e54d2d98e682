// The API edge: every DaemonService request is checked against these bounds
// before a handler sees it, whatever transport brought it (the daemon's
// socket, or the in-process transport of --no-daemon). A request outside them
// is INVALID_ARGUMENT naming the field; nothing past this point has to guard
// against a 1 GB string, a million names or a timeout past Date's range.
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { toConnectError } from "../../proto/connect-errors.js";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { environmentNameProblem } from "../../proto/names.js";

/** The longest delay a Node timer takes (2^31 − 1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Bounds of one field; fields without a rule get the defaults below. */
export interface FieldRule {
  /** Strings and bytes: most bytes (UTF-8). */
  maxBytes?: number;
  /** Repeated fields and maps: most entries. */
  maxItems?: number;
  /** Numbers: least and most values (inclusive), and the unit the error names. */
  min?: number;
  max?: number;
  unit?: string;
  /** Strings: must be an absolute path (when not empty). */
  absolute?: boolean;
  /**
   * Strings: must follow the name rules of modules and environments (when
   * not empty; proto/names.ts). An environment names its state namespace, a
   * directory of the filesystem backend: "../../x" would put state (and
   * create directories) outside the state directory.
   */
  environmentName?: boolean;
}

/** What a string field gets without a rule: enough for any name or path. */
export const DEFAULT_MAX_BYTES = 4096;
/** What a repeated field gets without a rule. */
export const DEFAULT_MAX_ITEMS = 1000;

/** A name (environment, plugin, output): far longer than any real one. */
const NAME = { maxBytes: 256 };
/** An id the client or daemon made (a UUID, a sha256 fingerprint): 36 or 64 characters. */
const ID = { maxBytes: 128 };

/**
 * Rules by "<message type>.<field>". Every number a request carries must have
 * one (test/unit/request-limits.test.ts checks): a number without bounds is
 * how a request crashed the daemon (a timeout past Date's range).
 */
export const FIELD_RULES: Readonly<Record<string, FieldRule>> = {
  "wfctl.daemon.v1.Target.config_path": { maxBytes: 4096, absolute: true },
  "wfctl.daemon.v1.Target.env": { ...NAME, environmentName: true },
  // A credential file's content (a service account key) fits; 1000 variables is more than any step sets.
  "wfctl.daemon.v1.Target.environment": { maxBytes: 64 * 1024, maxItems: 1000 },
  "wfctl.daemon.v1.Target.variables": { maxBytes: 64 * 1024, maxItems: 1000 },
  "wfctl.daemon.v1.Target.variable_files": { maxBytes: 4096, maxItems: 100, absolute: true },
  "wfctl.daemon.v1.PlanRequest.targets": { ...NAME, maxItems: 1000 },
  "wfctl.daemon.v1.PlanRequest.replace": { ...NAME, maxItems: 1000 },
  "wfctl.daemon.v1.ApplyRequest.targets": { ...NAME, maxItems: 1000 },
  "wfctl.daemon.v1.ApplyRequest.replace": { ...NAME, maxItems: 1000 },
  // What fits in a request (MAX_REQUEST_BYTES) beside the rest of it.
  "wfctl.daemon.v1.ApplyRequest.saved_plan": { maxBytes: 4 * 1024 * 1024 - 64 * 1024 },
  "wfctl.daemon.v1.ImportResourceRequest.name": NAME,
  "wfctl.daemon.v1.ImportResourceRequest.provider_id": { maxBytes: 4096 },
  "wfctl.daemon.v1.RemoveStateResourcesRequest.names": { ...NAME, maxItems: 1000 },
  "wfctl.daemon.v1.MoveStateResourceRequest.from": NAME,
  "wfctl.daemon.v1.MoveStateResourceRequest.to": NAME,
  "wfctl.daemon.v1.Operation.id": ID,
  "wfctl.daemon.v1.Operation.timeout_ms": { min: 0, max: MAX_TIMER_MS, unit: "ms" },
  "wfctl.daemon.v1.Caller.user": NAME,
  "wfctl.daemon.v1.Caller.pid": { min: 0, max: 2 ** 31 - 1 },
  "wfctl.daemon.v1.Caller.command": { maxBytes: 4096 },
  "wfctl.daemon.v1.ApplyRequest.expected_fingerprint": ID,
  "wfctl.daemon.v1.ApplyRequest.parallelism": { min: 0, max: 1000 },
  "wfctl.daemon.v1.DestroyRequest.expected_fingerprint": ID,
  "wfctl.daemon.v1.DestroyRequest.parallelism": { min: 0, max: 1000 },
  "wfctl.daemon.v1.TeardownRequest.expected_fingerprint": ID,
  "wfctl.daemon.v1.TeardownRequest.parallelism": { min: 0, max: 1000 },
  "wfctl.daemon.v1.OutputsRequest.names": { ...NAME, maxItems: 1000 },
  "wfctl.daemon.v1.UnlockStateRequest.lock_id": ID,
  "wfctl.daemon.v1.CancelRequest.operation_id": ID,
  "wfctl.daemon.v1.WatchOperationRequest.operation_id": ID,
  // The journal keeps an operation's events 10 minutes: waiting longer for one to start is pointless.
  "wfctl.daemon.v1.WatchOperationRequest.wait_ms": { min: 0, max: 600_000, unit: "ms" },
  "wfctl.daemon.v1.InspectPluginRequest.name": NAME,
  "wfctl.daemon.v1.PluginLogsRequest.name": NAME,
  // The daemon keeps the last 200 lines of each instance; more is never sent.
  "wfctl.daemon.v1.PluginLogsRequest.tail": { min: 0, max: 10_000, unit: "lines" },
};

/** Message types whose numbers are checked as such (all but bool and enum scalars). */
const NUMERIC = new Set<ScalarType>([
  ScalarType.DOUBLE, ScalarType.FLOAT, ScalarType.INT64, ScalarType.UINT64, ScalarType.INT32, ScalarType.FIXED64,
  ScalarType.FIXED32, ScalarType.UINT32, ScalarType.SFIXED32, ScalarType.SFIXED64, ScalarType.SINT32, ScalarType.SINT64,
]);

/** True for a scalar type the rules bound as a number. */
export function isNumeric(type: ScalarType): boolean {
  return NUMERIC.has(type);
}

/** The rule of a field, the defaults filled in. */
export function ruleOf(message: DescMessage, field: DescField): FieldRule {
  return { maxBytes: DEFAULT_MAX_BYTES, maxItems: DEFAULT_MAX_ITEMS, ...FIELD_RULES[`${message.typeName}.${field.name}`] };
}

const MAX_REPORTED = 5;

type Plain = Record<string, unknown>;

/** Problems found so far, each naming its field. */
class Problems {
  readonly found: ErrorDetail[] = [];
  add(field: string, message: string): void {
    this.found.push({ field, message: `${field} ${message}` });
  }
  get full(): boolean {
    return this.found.length >= MAX_REPORTED;
  }
}

function checkScalar(type: ScalarType, value: unknown, rule: FieldRule, path: string, problems: Problems): void {
  if (typeof value === "string" || value instanceof Uint8Array) {
    const bytes = typeof value === "string" ? Buffer.byteLength(value) : value.byteLength;
    const max = rule.maxBytes ?? DEFAULT_MAX_BYTES;
    if (bytes > max) problems.add(path, `is ${bytes} bytes, more than the ${max} allowed`);
    else if (typeof value === "string" && value.includes("\0")) problems.add(path, `must not contain a NUL character`);
    else if (rule.absolute && typeof value === "string" && value !== "" && !value.startsWith("/")) problems.add(path, `must be an absolute path, got "${value}"`);
    else if (rule.environmentName && typeof value === "string") {
      const problem = environmentNameProblem(value);
      if (problem) problems.add(path, problem);
    }
    return;
  }
  if (!isNumeric(type) || (typeof value !== "number" && typeof value !== "bigint")) return;
  const unit = rule.unit ? ` ${rule.unit}` : "";
  if (typeof value === "number" && !Number.isFinite(value)) problems.add(path, `must be a finite number, got ${value}`);
  else if (rule.max !== undefined && value > rule.max) problems.add(path, `must be at most ${rule.max}${unit}, got ${value}`);
  else if (rule.min !== undefined && value < rule.min) problems.add(path, `must be at least ${rule.min}${unit}, got ${value}`);
}

function checkValue(field: DescField, value: unknown, rule: FieldRule, path: string, problems: Problems): void {
  if (field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message")) {
    if (field.message && typeof value === "object" && value !== null) checkMessage(field.message, value as Plain, `${path}.`, problems);
  } else if (field.fieldKind === "scalar" || (field.fieldKind === "list" && field.listKind === "scalar")) {
    checkScalar(field.scalar, value, rule, path, problems);
  }
}

/** Each key of a map (a name: NAME's bound) and each value (the field's rule). */
function checkMap(field: DescField & { fieldKind: "map" }, entries: [string, unknown][], rule: FieldRule, path: string, problems: Problems): void {
  for (const [key, value] of entries) {
    if (problems.full) return;
    const keyBytes = Buffer.byteLength(key);
    if (keyBytes > NAME.maxBytes) problems.add(`${path}[${key.slice(0, 40)}…]`, `key is ${keyBytes} bytes, more than the ${NAME.maxBytes} allowed`);
    else if (field.mapKind === "message") {
      if (typeof value === "object" && value !== null) checkMessage(field.message, value as Plain, `${path}[${key}].`, problems);
    } else if (field.mapKind === "scalar") checkScalar(field.scalar, value, rule, `${path}[${key}]`, problems);
  }
}

function checkMessage(desc: DescMessage, message: Plain, prefix: string, problems: Problems): void {
  for (const field of desc.fields) {
    if (problems.full) return;
    let value: unknown = message[field.localName];
    if (field.oneof) {
      const chosen = message[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (chosen?.case !== field.localName) continue;
      value = chosen.value;
    }
    if (value === undefined || value === null) continue;
    const rule = ruleOf(desc, field);
    const path = `${prefix}${field.name}`;
    if (field.fieldKind === "list" || field.fieldKind === "map") {
      const entries = field.fieldKind === "list" ? (value as unknown[]) : Object.entries(value as Plain);
      const max = rule.maxItems ?? DEFAULT_MAX_ITEMS;
      if (entries.length > max) {
        problems.add(path, `has ${entries.length} entries, more than the ${max} allowed`);
        continue;
      }
      if (field.fieldKind === "list") entries.forEach((v, i) => checkValue(field, v, rule, `${path}[${i}]`, problems));
      else checkMap(field, entries as [string, unknown][], rule, path, problems);
      continue;
    }
    checkValue(field, value, rule, path, problems);
  }
}

/** Throws INVALID_ARGUMENT naming each field (up to five) of `message` outside its bounds. */
export function checkRequest(desc: DescMessage, message: object): void {
  const problems = new Problems();
  checkMessage(desc, message as Plain, "", problems);
  if (problems.found.length === 0) return;
  const details = problems.found;
  throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `invalid ${desc.name}: ${details.map((d) => d.message).join("; ")}`, { details });
}

type Handler = (request: object, context: HandlerContext) => unknown;

/** Re-raises errors of a response stream as statuses carrying their wfctl code (interceptors see only its start). */
async function* statusOnError<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (err) {
    throw toConnectError(err);
  }
}

/**
 * The service with every request checked first. A unary handler's error is
 * turned into a status by the router's interceptors; a stream's, raised after
 * its start, here.
 */
export function boundedService(impl: ServiceImpl<typeof DaemonService>): ServiceImpl<typeof DaemonService> {
  const handlers = impl as unknown as Record<string, Handler>;
  const guarded: Record<string, Handler> = {};
  for (const method of DaemonService.methods) {
    const handler = handlers[method.localName];
    if (!handler) continue;
    guarded[method.localName] =
      method.methodKind === "server_streaming"
        ? (request, context) => {
            checkRequest(method.input, request);
            return statusOnError(handler.call(impl, request, context) as AsyncIterable<unknown>);
          }
        : async (request, context) => {
            checkRequest(method.input, request);
            return handler.call(impl, request, context);
          };
  }
  return guarded as unknown as ServiceImpl<typeof DaemonService>;
}
