// Checks on resource configuration beyond what the schema's types say: SQL
// names, connection limits. Every problem is CONFIG_INVALID naming the
// resource and the field.
import { ErrorCode, type JsonObject, type JsonValue, WfctlError } from "../sdk/index.js";

/** PostgreSQL silently truncates longer names (NAMEDATALEN - 1 bytes). */
const MAX_NAME_BYTES = 63;

/** How errors name a resource: `app (postgres.role)`. */
export function describe(name: string, type: string): string {
  return `${name} (${type})`;
}

/** CONFIG_INVALID: `<what>: field "<field>" <message>`, with the field in the details. */
export function invalid(what: string, field: string, message: string): WfctlError {
  return new WfctlError(ErrorCode.CONFIG_INVALID, `${what}: field "${field}" ${message}`, { details: [{ field, message }] });
}

/** A SQL name (database, role, schema): non-empty, at most 63 bytes, no NUL. Quoting is the caller's. */
export function sqlName(config: JsonObject, field: string, what: string): string {
  const value = config[field];
  if (typeof value !== "string" || value === "") throw invalid(what, field, "must be a non-empty name");
  if (Buffer.byteLength(value) > MAX_NAME_BYTES) {
    throw invalid(what, field, `must be at most ${MAX_NAME_BYTES} bytes (PostgreSQL would truncate it), got ${Buffer.byteLength(value)}`);
  }
  if (value.includes("\0")) throw invalid(what, field, "must not contain a NUL character");
  return value;
}

/** An optional SQL name: undefined when the field is absent or null. */
export function optionalSqlName(config: JsonObject, field: string, what: string): string | undefined {
  return config[field] === undefined || config[field] === null ? undefined : sqlName(config, field, what);
}

/** A connection limit: a whole number, -1 for none. */
export function connectionLimit(config: JsonObject, what: string): number {
  const value = config["connection_limit"];
  if (typeof value !== "number" || !Number.isInteger(value) || value < -1) {
    throw invalid(what, "connection_limit", `must be a whole number, -1 for no limit, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The prior configuration's value of `field` when it means the same as `actual` (so spelling never shows as drift), else `actual`. */
export function asConfigured<T extends JsonValue>(prior: JsonObject, field: string, actual: T, same: (configured: JsonValue, actual: T) => boolean): JsonValue {
  const configured = prior[field];
  return configured !== undefined && same(configured, actual) ? configured : actual;
}
