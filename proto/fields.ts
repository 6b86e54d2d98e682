// Field schemas: the TypeScript face of wfctl.plugin.v1.FieldSchema, and the
// pure logic both sides apply to them: validation of a configuration, and the
// field-by-field diff that plans and drift detection are made of.
import { create } from "@bufbuild/protobuf";
import { type FieldSchema, FieldSchemaSchema, FieldType } from "./gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, type JsonValue, decodeJsonValue, encodeJson, jsonEqual } from "./json.js";
import { isSealed, sameValue } from "./sealed.js";

export type FieldKind = "string" | "number" | "bool" | "list" | "map" | "any";

/** One field of a provider's configuration or of a resource type. */
export interface FieldSpec {
  type: FieldKind;
  description?: string;
  /** The configuration must set it. */
  required?: boolean;
  /** Set by the provider; configuration may not set it. */
  computed?: boolean;
  /** Masked in plans and output. */
  sensitive?: boolean;
  /** A change replaces the resource instead of updating it. */
  forceNew?: boolean;
  /** Used when the configuration omits the field. */
  default?: JsonValue;
}

export type FieldMap = Readonly<Record<string, FieldSpec>>;

const kindToProto: Record<FieldKind, FieldType> = {
  string: FieldType.STRING,
  number: FieldType.NUMBER,
  bool: FieldType.BOOL,
  list: FieldType.LIST,
  map: FieldType.MAP,
  any: FieldType.ANY,
};

export function fieldMapToProto(fields: FieldMap): FieldSchema[] {
  return Object.entries(fields).map(([name, f]) =>
    create(FieldSchemaSchema, {
      name,
      type: kindToProto[f.type],
      description: f.description ?? "",
      required: f.required ?? false,
      computed: f.computed ?? false,
      sensitive: f.sensitive ?? false,
      forceNew: f.forceNew ?? false,
      defaultJson: f.default === undefined ? new Uint8Array() : encodeJson(f.default),
    }),
  );
}

export function fieldMapFromProto(fields: readonly FieldSchema[]): Record<string, FieldSpec> {
  const out: Record<string, FieldSpec> = {};
  for (const f of fields) {
    const kind = (Object.keys(kindToProto) as FieldKind[]).find((k) => kindToProto[k] === f.type) ?? "any";
    const spec: FieldSpec = { type: kind };
    if (f.description) spec.description = f.description;
    if (f.required) spec.required = true;
    if (f.computed) spec.computed = true;
    if (f.sensitive) spec.sensitive = true;
    if (f.forceNew) spec.forceNew = true;
    const def = decodeJsonValue(f.defaultJson, `default of field ${f.name}`);
    if (def !== undefined) spec.default = def;
    out[f.name] = spec;
  }
  return out;
}

/** A problem with one field of a configuration. */
export interface FieldProblem {
  field: string;
  message: string;
}

function kindOf(value: JsonValue): FieldKind {
  if (typeof value === "string") return "string";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "bool";
  if (Array.isArray(value)) return "list";
  return "map";
}

/** Checks a configuration against its fields: unknown, missing, computed, wrongly typed. */
export function validateFields(config: JsonObject, fields: FieldMap): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const [name, value] of Object.entries(config)) {
    const spec = fields[name];
    if (!spec) {
      const known = Object.keys(fields).filter((k) => !fields[k]?.computed);
      problems.push({ field: name, message: `is unknown (known fields: ${known.join(", ") || "none"})` });
      continue;
    }
    if (spec.computed) {
      problems.push({ field: name, message: "is computed by the provider and cannot be set" });
      continue;
    }
    if (value === null) continue;
    if (spec.type !== "any" && kindOf(value) !== spec.type) {
      problems.push({ field: name, message: `must be a ${spec.type}, got a ${kindOf(value)}` });
    }
  }
  for (const [name, spec] of Object.entries(fields)) {
    if (spec.required && (config[name] === undefined || config[name] === null)) {
      problems.push({ field: name, message: "is required" });
    }
  }
  return problems;
}

/** Plain JSON equality, an absent value equal to null: how a plugin compares (a seal is just another value to it). */
export function sameJson(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return jsonEqual(a ?? null, b ?? null);
}

/** The configuration with defaults filled in for omitted fields. */
export function withDefaults(config: JsonObject, fields: FieldMap): JsonObject {
  const out: JsonObject = { ...config };
  for (const [name, spec] of Object.entries(fields)) {
    if (out[name] === undefined && spec.default !== undefined) out[name] = spec.default;
  }
  return out;
}

/** One field that differs between two configurations. */
export interface FieldDifference {
  field: string;
  before: JsonValue | undefined;
  after: JsonValue | undefined;
  forcesReplace: boolean;
  sensitive: boolean;
}

/**
 * The settable fields that differ between `before` and `after` (computed
 * fields are the provider's business and never count). Fields not in the
 * schema are compared too, so nothing changes unseen. `same` compares two
 * values: by default a sealed value equals the value it seals (the host's
 * view); a plugin compares plainly and leaves seals to the host
 * (sealed-compare.ts).
 */
export function diffFields(
  before: JsonObject | undefined,
  after: JsonObject,
  fields: FieldMap,
  same: (a: JsonValue | undefined, b: JsonValue | undefined) => boolean = sameValue,
): FieldDifference[] {
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after)]);
  const out: FieldDifference[] = [];
  for (const name of [...names].sort()) {
    const spec = fields[name];
    if (spec?.computed) continue;
    const b = before?.[name];
    const a = after[name];
    if (same(b, a)) continue;
    out.push({
      field: name,
      before: b,
      after: a,
      forcesReplace: before !== undefined && (spec?.forceNew ?? false),
      // A sealed side means state keeps the field sealed: its other side is as secret.
      sensitive: (spec?.sensitive ?? false) || isSealed(b) || isSealed(a),
    });
  }
  return out;
}
