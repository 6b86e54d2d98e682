// Editing state by hand, as Terraform's import, state rm and state mv do:
// adopting a resource that exists (read through its provider by its id),
// forgetting records without touching what they describe, renaming a
// record. Each runs under the stack lock its caller holds, checks
// everything before its first write, and writes one audit entry per record
// it changes.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { decodeJsonObject, encodeJson } from "../../proto/json.js";
import { isSealed } from "../../proto/sealed.js";
import { RecordStatus, type ResourceState, storeTimeout } from "../../proto/state-store.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import { findReferences, isSensitiveField } from "../config/references.js";
import { type StateLocation, describeBackend, locateState } from "../state/open.js";
import { CALL_TIMEOUTS, type OperationContext, callOptions, storeContext } from "./context.js";
import type { AuditEntry, AuditSink } from "./refresh.js";
import { WRITE_TIMEOUT_MS, renameRecord, sameResource } from "./renames.js";
import type { Peer } from "./request.js";
import type { OpenedTarget } from "./target.js";

export interface ImportResult extends StateLocation {
  record: ResourceState;
  audit: AuditEntry;
}

export interface RemoveResult extends StateLocation {
  audit: AuditEntry[];
}

export interface MoveResult extends StateLocation {
  audit: AuditEntry;
}

/** The audit entry for `action` on `record`, in operation `operation`. */
export function editEntry(action: AuditEntry["action"], operation: string, record: Pick<ResourceState, "resourceId" | "resourceType">, config: InfraConfig, ctx: OperationContext, peer: Peer | undefined): AuditEntry {
  return {
    time: new Date().toISOString(),
    action,
    operation,
    resource: record.resourceId,
    type: record.resourceType,
    environment: config.env,
    caller: ctx.caller.user,
    ...(peer ? { peer } : {}),
    operationId: ctx.operationId,
  };
}

/** "environment x" or "no environment", for messages. */
function inEnvironment(config: InfraConfig): string {
  return config.env ? ` (environment "${config.env}")` : "";
}

/** The configured resource `name` (environment-resolved), or NOT_FOUND listing the names there are. */
function configuredResource(config: InfraConfig, name: string): ResourceModule {
  const resource = config.resources.find((r) => r.name === name);
  if (resource) return resource;
  const byBase = config.resources.find((r) => r.baseName === name);
  const hint = byBase ? `; module "${name}" is named "${byBase.name}" in this environment: use that name` : "";
  const names = config.resources.map((r) => r.name).join(", ") || "none";
  throw new WfctlError(ErrorCode.NOT_FOUND, `no resource named "${name}" in ${config.file}${inEnvironment(config)}${hint}. Its resources: ${names}`);
}

/**
 * The top-level fields of `resource`'s configuration that a reference or a
 * sensitive variable fills with a sensitive value: sealed in the imported
 * record, as an apply would.
 */
async function taintedFields(resource: ResourceModule, opened: OpenedTarget, records: ReadonlyMap<string, ResourceState>): Promise<string[]> {
  // Fields a sensitive input variable fills are sealed too (the configuration lists them).
  const tainted = new Set<string>(resource.sensitiveFields);
  for (const found of findReferences(resource.config)) {
    const ref = resource.references.find((r) => r.expression === found.expression);
    const target = ref && opened.config.resources.find((r) => r.name === ref.target);
    if (!ref || !target) continue;
    const fields = (await opened.sessions.get(target.provider)).schema.types.get(target.type) ?? {};
    const top = ref.field.split(".")[0] ?? ref.field;
    if (isSensitiveField(fields, ref.field) || isSealed(records.get(ref.target)?.config[top])) tainted.add(String(found.path[0]));
  }
  return [...tainted];
}

/**
 * Reads the resource `providerId` through the provider of the configured
 * resource `name` and records it under that name: its provider id, what was
 * read (sensitive fields sealed), outputs, status active, protected and
 * depends_on as configured.
 */
export async function importResource(ctx: OperationContext, opened: OpenedTarget, name: string, providerId: string, audit: AuditSink): Promise<ImportResult> {
  const { config, store, sessions } = opened;
  const resource = configuredResource(config, name);
  const records = new Map((await store.listStates({}, storeContext(ctx))).map((r) => [r.resourceId, r]));
  const existing = records.get(name);
  if (existing) {
    throw new WfctlError(
      ErrorCode.ALREADY_EXISTS,
      `state already records ${name} (${existing.resourceType}, provider id ${existing.providerId || "none"}) in ${describeBackend(config)}: ` +
        `nothing was imported. To adopt another resource under this name, forget the record first: wfctl infra state rm ${name}`,
    );
  }
  const handle = await sessions.get(resource.provider);
  const fields = handle.schema.types.get(resource.type);
  if (!fields) throw new WfctlError(ErrorCode.CONFIG_INVALID, `${config.file}: module "${resource.baseName}": provider "${resource.provider}" has no resource type "${resource.type}"`);
  const read = await handle.client.read(
    { resource: { name, type: resource.type }, prior: { providerId, configJson: encodeJson({}), outputsJson: encodeJson({}) } },
    callOptions(ctx, config.env, CALL_TIMEOUTS.quick),
  );
  if (!read.found) {
    throw new WfctlError(ErrorCode.NOT_FOUND, `${handle.instance.who} found no ${resource.type} with id "${providerId}": nothing was imported`);
  }
  const now = new Date().toISOString();
  const record: ResourceState = {
    resourceId: name,
    resourceType: resource.type,
    provider: resource.provider,
    status: RecordStatus.ACTIVE,
    config: decodeJsonObject(read.configJson, `${name}: read config_json`),
    outputs: read.outputsJson.byteLength > 0 ? decodeJsonObject(read.outputsJson, `${name}: read outputs_json`) : {},
    createdAt: now,
    updatedAt: now,
    error: "",
    providerId: read.providerId || providerId,
    protected: resource.protected,
    dependsOn: resource.dependsOn,
  };
  const twin = [...records.values()].find((r) => sameResource(r, record));
  if (twin) {
    throw new WfctlError(ErrorCode.ALREADY_EXISTS, `state already records this ${resource.type} (provider id ${record.providerId}) as ${twin.resourceId}: nothing was imported. To rename that record: wfctl infra state mv ${twin.resourceId} ${name}`);
  }
  store.markSensitive(name, await taintedFields(resource, opened, records));
  // Who is asking, as the daemon knows it, for the audit line; another user is refused here, before the write.
  const entry = editEntry("import", "import", record, config, ctx, await ctx.caller.peer?.());
  // Audited before the write, as prunes are: a line too many rather than a change unaccounted for.
  audit(entry);
  await store.saveState(record, storeTimeout(WRITE_TIMEOUT_MS));
  ctx.log.warn({ audit: entry, provider_id: record.providerId }, `imported ${name} (${resource.type}) into state`);
  return { record, audit: entry, ...locateState(config) };
}

/** The records named, each of which must exist (else NOT_FOUND naming every missing one). */
function recordsNamed(names: readonly string[], records: ReadonlyMap<string, ResourceState>, config: InfraConfig): ResourceState[] {
  const missing = names.filter((n) => !records.has(n));
  if (missing.length > 0) {
    const known = [...records.keys()].sort().join(", ") || "none";
    throw new WfctlError(ErrorCode.NOT_FOUND, `state in ${describeBackend(config)} has no record named ${missing.map((n) => `"${n}"`).join(", ")}: nothing was changed. Records: ${known}`);
  }
  return names.map((n) => records.get(n) as ResourceState);
}

/**
 * Forgets the records `names` without touching what they describe. All are
 * checked first (each exists; a protected one only with `allowProtected`):
 * a refusal removes none.
 */
export async function removeRecords(ctx: OperationContext, opened: OpenedTarget, names: readonly string[], allowProtected: boolean, audit: AuditSink): Promise<RemoveResult> {
  const { config, store } = opened;
  if (names.length === 0) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "names: which records? Give at least one name");
  const records = new Map((await store.listStates({}, storeContext(ctx))).map((r) => [r.resourceId, r]));
  const doomed = recordsNamed([...new Set(names)], records, config);
  const isProtected = (r: ResourceState) => r.protected || config.resources.some((c) => c.name === r.resourceId && c.protected);
  const blocked = doomed.filter(isProtected);
  if (blocked.length > 0 && !allowProtected) {
    throw new WfctlError(
      ErrorCode.PROTECTED_RESOURCE,
      `refusing to forget protected record(s) ${blocked.map((r) => `${r.resourceId} (${r.resourceType})`).join(", ")}: nothing was removed. ` +
        "Run again with --allow-protected to forget them (what they describe is not deleted either way)",
    );
  }
  const peer = await ctx.caller.peer?.();
  const entries: AuditEntry[] = [];
  for (const record of doomed) {
    const entry = editEntry("state rm", "state rm", record, config, ctx, peer);
    audit(entry);
    await store.deleteState(record.resourceId, storeTimeout(WRITE_TIMEOUT_MS));
    entries.push(entry);
    ctx.log.warn({ audit: entry, provider_id: record.providerId }, `forgot ${record.resourceId} (${record.resourceType}); the resource itself was not touched`);
  }
  return { audit: entries, ...locateState(config) };
}

/**
 * Renames record `from` to `to` (see renameRecord). `to` may not exist,
 * unless it is the copy an interrupted rename of `from` left: the rename
 * is then finished.
 */
export async function moveRecord(ctx: OperationContext, opened: OpenedTarget, from: string, to: string, audit: AuditSink): Promise<MoveResult> {
  const { config, store } = opened;
  if (from === to) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `state mv: the old and new names are both "${from}": nothing to do`);
  const all = await store.listStates({}, storeContext(ctx));
  const records = new Map(all.map((r) => [r.resourceId, r]));
  const [record] = recordsNamed([from], records, config) as [ResourceState];
  const existing = records.get(to);
  if (existing && !sameResource(existing, record)) {
    throw new WfctlError(
      ErrorCode.ALREADY_EXISTS,
      `state already records ${to} (${existing.resourceType}, provider id ${existing.providerId || "none"}): nothing was moved. Forget it first (wfctl infra state rm ${to}) if ${from} is the record to keep`,
    );
  }
  const entry = editEntry("state mv", `state mv ${from} ${to}`, record, config, ctx, await ctx.caller.peer?.());
  audit(entry);
  await renameRecord(store, record, to, all, ctx);
  return { audit: entry, ...locateState(config) };
}
