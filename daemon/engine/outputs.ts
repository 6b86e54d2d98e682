// Outputs: named values of applied resources. The configuration's `outputs:`
// section declares them (`source: module.field`, resolved for the
// environment); without one, every resource's outputs are listed. A value is
// sensitive when the configuration says so, when the provider's schema marks
// its field sensitive, or when the field's name says it is a secret.
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import type { FieldMap } from "../../proto/fields.js";
import { type JsonValue, isJsonObject } from "../../proto/json.js";
import { isSealed } from "../../proto/sealed.js";
import type { ResourceState, StateStore } from "../../proto/state-store.js";
import type { InfraConfig, OutputDeclaration, OutputSinkDeclaration } from "../config/model.js";
import { isSensitiveField } from "../config/references.js";
import { formatDetail, formatDetails } from "../config/source.js";
import { type OperationContext, storeContext } from "./context.js";
import type { ProviderSessions } from "./providers.js";

export interface OutputResult {
  name: string;
  /** "resource.field", with the environment-resolved resource name. */
  source: string;
  value: JsonValue;
  sensitive: boolean;
  description: string;
  /** Its declared sinks (none for undeclared outputs). */
  sinks: readonly OutputSinkDeclaration[];
}

/** Which outputs to collect by their sinks: all, those with any sink (outputs --sync), those with an on_apply sink. */
export type SinkFilter = "all" | "any" | "on_apply";

/** The value at a dotted path, or undefined. */
function at(object: JsonValue | undefined, path: string): JsonValue | undefined {
  let current = object;
  for (const part of path.split(".")) {
    if (!isJsonObject(current)) return undefined;
    current = current[part];
  }
  return current;
}

/** Whether `field` of resource `name` holds a sensitive variable's value (a provider that echoes the field in its outputs echoes a secret). */
function tainted(config: InfraConfig, name: string, field: string): boolean {
  return config.resources.find((r) => r.name === name)?.sensitiveFields.includes(field.split(".")[0] ?? field) ?? false;
}

async function schemaOf(record: ResourceState, config: InfraConfig, sessions: ProviderSessions): Promise<FieldMap> {
  if (!config.providers.has(record.provider)) {
    throw new WfctlError(
      ErrorCode.CONFIG_INVALID,
      `${config.file}: state entry "${record.resourceId}" (${record.resourceType}) is managed by provider module "${record.provider}", which the configuration no longer declares; ` +
        "its provider's schema (which fields are sensitive) cannot be read",
    );
  }
  return (await sessions.get(record.provider)).schema.types.get(record.resourceType) ?? {};
}

/** The error for an output that cannot be read, located at its declaration. */
function outputProblem(config: InfraConfig, output: OutputDeclaration, code: ErrorCode, message: string): WfctlError {
  const detail = config.source.detail(["outputs", output.name, "source"], `output "${output.name}": ${message}`, undefined, `outputs.${output.name}.source`);
  // Only a configuration problem reads "invalid configuration"; a value not there yet is not one.
  return new WfctlError(code, code === ErrorCode.CONFIG_INVALID ? formatDetails(config.file, [detail]) : formatDetail(detail), { details: [detail] });
}

async function declaredOutput(
  output: OutputDeclaration,
  config: InfraConfig,
  store: StateStore,
  sessions: ProviderSessions,
  ctx: OperationContext,
): Promise<OutputResult> {
  if (output.resource === undefined) {
    throw outputProblem(
      config,
      output,
      ErrorCode.CONFIG_INVALID,
      `its source module "${output.module}" is disabled in environment "${config.env}" (set to null under environments.${config.env}); ` +
        `remove the output for this environment's use or enable the module`,
    );
  }
  const record = await store.getState(output.resource, storeContext(ctx));
  if (!record) {
    throw outputProblem(
      config,
      output,
      ErrorCode.NOT_FOUND,
      `resource "${output.resource}" has no state in namespace "${config.namespace}" (not applied yet?); run wfctl infra apply${config.env ? ` --env ${config.env}` : ""} first`,
    );
  }
  let value = at(record.outputs, output.field);
  if (value === undefined) value = at(record.config, output.field);
  if (value === undefined) {
    const known = [...Object.keys(record.outputs), ...Object.keys(record.config)].sort().join(", ");
    throw outputProblem(config, output, ErrorCode.NOT_FOUND, `resource "${output.resource}" (${record.resourceType}) has no field "${output.field}" (it has: ${known || "none"})`);
  }
  if (isSealed(value)) {
    // Plan and apply refuse such a source (sealedOutputSources); a record from before the output was declared gets here.
    throw outputProblem(
      config,
      output,
      ErrorCode.CONFIG_INVALID,
      `field "${output.field}" of resource "${output.resource}" is sensitive configuration, which state keeps sealed (never the value): it cannot be an output; use an output the provider returns`,
    );
  }
  const schema = await schemaOf(record, config, sessions);
  return {
    name: output.name,
    source: `${output.resource}.${output.field}`,
    value,
    sensitive: output.sensitive || isSensitiveField(schema, output.field) || tainted(config, output.resource, output.field),
    description: output.description,
    sinks: output.sinks,
  };
}

/**
 * Problems of declared outputs whose source is a configuration field state
 * keeps sealed, never the value (proto/sealed.ts), so that no `infra outputs`
 * could ever read it: a field the provider's schema marks sensitive (and does
 * not compute) or, once planned, one a reference filled with a sensitive
 * value (`tainted`: the planned changes' sensitive fields by resource).
 * Checked when plan and apply load the configuration, at the output's line.
 */
export async function sealedOutputSources(config: InfraConfig, sessions: ProviderSessions, tainted?: ReadonlyMap<string, readonly string[]>): Promise<ErrorDetail[]> {
  const problems: ErrorDetail[] = [];
  for (const output of config.outputs) {
    const resource = config.resources.find((r) => r.name === output.resource);
    if (!resource) continue;
    const fields = (await sessions.get(resource.provider)).schema.types.get(resource.type) ?? {};
    const top = output.field.split(".")[0] ?? output.field;
    if (fields[top]?.computed) continue;
    const bySchema = fields[top]?.sensitive === true;
    if (!bySchema && !tainted?.get(resource.name)?.includes(top)) continue;
    const returned = Object.keys(fields).filter((f) => fields[f]?.computed);
    const what = bySchema ? `is the sensitive configuration field "${top}" of ${resource.type}` : `is field "${top}" of "${resource.name}", which holds a sensitive value (through its references)`;
    const message =
      `output "${output.name}": source "${output.module}.${output.field}" ${what}, which state keeps sealed (never the value), so no output can read it; ` +
      (bySchema ? `use a field the provider returns (${resource.type} returns: ${returned.join(", ") || "none"})` : "use that value's source instead");
    problems.push(config.source.detail(["outputs", output.name, "source"], message, undefined, `outputs.${output.name}.source`));
  }
  return problems;
}

/**
 * The outputs named in `names` (all when empty). An unknown name, a source
 * module disabled in the environment, a resource not applied yet or a field
 * it lacks are errors naming the output.
 */
export async function collectOutputs(
  config: InfraConfig,
  store: StateStore,
  sessions: ProviderSessions,
  ctx: OperationContext,
  names: readonly string[],
  sinks: SinkFilter = "all",
): Promise<{ outputs: OutputResult[]; declared: boolean }> {
  if (config.outputs.length > 0) {
    const unknown = names.filter((n) => !config.outputs.some((o) => o.name === n));
    if (unknown.length > 0) {
      throw new WfctlError(
        ErrorCode.NOT_FOUND,
        `${config.file}: no output named ${unknown.map((n) => `"${n}"`).join(", ")} (declared: ${config.outputs.map((o) => o.name).join(", ")})`,
      );
    }
    if (sinks === "any") {
      const without = names.filter((n) => config.outputs.some((o) => o.name === n && o.sinks.length === 0));
      if (without.length > 0) {
        throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${config.file}: output ${without.map((n) => `"${n}"`).join(", ")} declares no sinks, so --sync has nothing to write`, {
          details: without.map((n) => ({ file: config.file, field: `outputs.${n}.sinks`, message: "no sinks declared" })),
        });
      }
    }
    const selected = names.length > 0 ? config.outputs.filter((o) => names.includes(o.name)) : config.outputs;
    // Only the outputs a sync writes are read: another output's resource may not exist yet.
    const wanted = selected.filter((o) => (sinks === "all" ? true : sinks === "any" ? o.sinks.length > 0 : o.sinks.some((s) => s.onApply)));
    const outputs: OutputResult[] = [];
    for (const output of wanted) outputs.push(await declaredOutput(output, config, store, sessions, ctx));
    return { outputs, declared: true };
  }
  // None declared: every applied resource's outputs, as "resource.field"; none has sinks.
  if (sinks !== "all") {
    if (sinks === "any") {
      throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${config.file} declares no outputs, so --sync has nothing to write: declare outputs with sinks (see docs/configuration.md#sinks)`, {
        details: [{ file: config.file, field: "outputs", message: "no outputs declared" }],
      });
    }
    return { outputs: [], declared: false };
  }
  const records = (await store.listStates({}, storeContext(ctx))).sort((a, b) => a.resourceId.localeCompare(b.resourceId));
  const outputs: OutputResult[] = [];
  for (const record of records) {
    const schema = await schemaOf(record, config, sessions);
    for (const [field, value] of Object.entries(record.outputs).sort(([a], [b]) => a.localeCompare(b))) {
      const name = `${record.resourceId}.${field}`;
      outputs.push({ name, source: name, value, sensitive: isSensitiveField(schema, field) || tainted(config, record.resourceId, field), description: "", sinks: [] });
    }
  }
  if (names.length > 0) {
    const unknown = names.filter((n) => !outputs.some((o) => o.name === n));
    if (unknown.length > 0) {
      throw new WfctlError(
        ErrorCode.NOT_FOUND,
        `no output named ${unknown.map((n) => `"${n}"`).join(", ")} in namespace "${config.namespace}" (the configuration declares no outputs: names are resource.field, e.g. ${outputs[0]?.name ?? "notes.absolute_path"})`,
      );
    }
    return { outputs: outputs.filter((o) => names.includes(o.name)), declared: false };
  }
  return { outputs, declared: false };
}

/**
 * Every sensitive value this configuration and its state hold, for a CI
 * runner to mask before anything prints (GitHub Actions' ::add-mask::):
 * literal values of schema-sensitive configuration fields, sensitive outputs
 * of applied resources (by schema or by name), and declared sensitive
 * outputs. Sealed values are left out: state never holds their plaintext.
 */
export async function sensitiveValues(config: InfraConfig, store: StateStore, sessions: ProviderSessions, ctx: OperationContext): Promise<JsonValue[]> {
  const values: JsonValue[] = [];
  const keep = (value: JsonValue | undefined) => {
    if (value !== undefined && value !== null && value !== "" && !isSealed(value)) values.push(value);
  };
  for (const variable of config.variables) if (variable.sensitive) keep(variable.value);
  for (const resource of config.resources) {
    const schema = (await sessions.get(resource.provider)).schema.types.get(resource.type) ?? {};
    for (const [field, value] of Object.entries(resource.config)) if (schema[field]?.sensitive) keep(value);
  }
  for (const record of await store.listStates({}, storeContext(ctx))) {
    if (!config.providers.has(record.provider)) continue;
    const schema = await schemaOf(record, config, sessions);
    for (const [field, value] of Object.entries(record.outputs)) if (isSensitiveField(schema, field) || tainted(config, record.resourceId, field)) keep(value);
    for (const output of config.outputs) {
      if (output.sensitive && output.resource === record.resourceId) keep(at(record.outputs, output.field) ?? at(record.config, output.field));
    }
  }
  return values;
}
