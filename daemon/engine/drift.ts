// Drift: what each resource in state looks like now, by its provider's
// account. Four classes: in-sync, ghost (state has it, the provider says it is
// gone), config (fields differ, expected and actual per field), and unknown
// (a drift detector that only says drifted or not). Providers without a drift
// detector are classified from Read. A detection error aborts the
// whole detection: callers change nothing on a partial picture.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { diffFields } from "../../proto/fields.js";
import { DriftClass, IaCBatchProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { decodeJsonObject, decodeJsonValue, type JsonValue } from "../../proto/json.js";
import { isSealed } from "../../proto/sealed.js";
import { settleDriftSeals } from "../../proto/sealed-compare.js";
import { type ResourceState, type StateStore, priorStateOf } from "../../proto/state-store.js";
import type { InfraConfig, ResourceModule } from "../config/model.js";
import { CALL_TIMEOUTS, type OperationContext, callOptions, storeContext } from "./context.js";
import { BATCHED_AT_ONCE } from "./provider-batch.js";
import type { ProviderSessions } from "./providers.js";
import { runTasks } from "./scheduler.js";

export type DriftClassName = "unknown" | "in-sync" | "ghost" | "config";

export interface DriftFieldFinding {
  field: string;
  expected: JsonValue | undefined;
  actual: JsonValue | undefined;
  sensitive: boolean;
}

export interface DriftFinding {
  name: string;
  type: string;
  provider: string;
  class: DriftClassName;
  drifted: boolean;
  fields: DriftFieldFinding[];
  /** Protected by state or by the configuration. */
  protected: boolean;
  record: ResourceState;
}

const classNames: Record<DriftClass, DriftClassName> = {
  [DriftClass.UNKNOWN]: "unknown",
  [DriftClass.IN_SYNC]: "in-sync",
  [DriftClass.GHOST]: "ghost",
  [DriftClass.CONFIG]: "config",
};

/** Drift of one recorded resource. */
async function detectOne(
  config: InfraConfig,
  sessions: ProviderSessions,
  ctx: OperationContext,
  record: ResourceState,
  /** What the configuration declares for it, if it still does. */
  configured: ResourceModule | undefined,
): Promise<DriftFinding> {
  if (!config.providers.has(record.provider)) {
    throw new WfctlError(
      ErrorCode.CONFIG_INVALID,
      `${config.file}: state entry "${record.resourceId}" (${record.resourceType}) is managed by provider module "${record.provider}", which the configuration no longer declares; drift cannot be detected for it`,
    );
  }
  const handle = await sessions.get(record.provider);
  const fields = handle.schema.types.get(record.resourceType) ?? {};
  const resource = { name: record.resourceId, type: record.resourceType };
  const options = callOptions(ctx, config.env, CALL_TIMEOUTS.quick);
  const base = {
    name: record.resourceId,
    type: record.resourceType,
    provider: record.provider,
    // The configuration's word wins for what it still declares (protected: false lifts it at once), as for destroy.
    protected: configured ? configured.protected : record.protected,
    record,
  };
  // Schema-sensitive, or sealed in the record (a value a reference made sensitive): what is read now is as secret.
  const sensitive = (field: string) => {
    const top = field.split(".")[0] as string;
    return (fields[top]?.sensitive ?? false) || isSealed(record.config[top]);
  };
  if (handle.detectDrift) {
    // Fields that differ only because the prior holds a seal are the host's to drop (sealed-compare.ts).
    const answer = await handle.detectDrift({ resource, prior: priorStateOf(record) }, options);
    const result = await settleDriftSeals(answer.result, record.config);
    return {
      ...base,
      class: classNames[result?.class ?? DriftClass.UNKNOWN] ?? "unknown",
      drifted: result?.drifted ?? false,
      fields: (result?.fields ?? []).map((f) => ({
        field: f.field,
        expected: decodeJsonValue(f.expectedJson, `${record.resourceId}: expected_json of ${f.field}`),
        actual: decodeJsonValue(f.actualJson, `${record.resourceId}: actual_json of ${f.field}`),
        sensitive: sensitive(f.field),
      })),
    };
  }
  // No drift detector: classified from Read. Not found is a ghost; fields
  // that differ are config drift.
  const read = await handle.client.read({ resource, prior: priorStateOf(record) }, options);
  if (!read.found) return { ...base, class: "ghost", drifted: true, fields: [] };
  const observed = decodeJsonObject(read.configJson, `${record.resourceId}: read config_json`);
  const differences = diffFields(record.config, observed, fields);
  return {
    ...base,
    class: differences.length > 0 ? "config" : "in-sync",
    drifted: differences.length > 0,
    fields: differences.map((d) => ({ field: d.field, expected: d.before, actual: d.after, sensitive: d.sensitive })),
  };
}

/**
 * How many resources are examined at once: `parallelism` (10 by default,
 * Terraform's), or, when every provider the records name serves
 * IaCBatchProvider, enough to fill its batches, as a plan does (the plugin
 * bounds its own work). A provider that cannot be had counts as not
 * batching; its error is the task's, as before.
 */
async function atOnce(config: InfraConfig, sessions: ProviderSessions, records: readonly ResourceState[], parallelism: number): Promise<number> {
  const providers = [...new Set(records.map((r) => r.provider))].filter((p) => config.providers.has(p));
  if (providers.length === 0) return parallelism;
  const batching = await Promise.all(providers.map((p) => sessions.get(p).then((h) => h.instance.serves(IaCBatchProvider), () => false)));
  return batching.every(Boolean) ? Math.max(parallelism, BATCHED_AT_ONCE) : parallelism;
}

/**
 * Drift of every resource in state, with bounded parallelism. Any failure
 * (a provider error, a cancelled operation) rejects: no partial result.
 */
export async function detectDrift(
  config: InfraConfig,
  store: StateStore,
  sessions: ProviderSessions,
  ctx: OperationContext,
  parallelism: number,
): Promise<DriftFinding[]> {
  const records = await store.listStates({}, storeContext(ctx));
  const findings = new Map<string, DriftFinding>();
  const typeOf = new Map(records.map((r) => [r.resourceId, r.resourceType]));
  const configured = new Map(config.resources.map((r) => [r.name, r]));
  const about = (id: string) => ({ kind: "resource", name: id, type: typeOf.get(id) ?? "", action: "read" }) as const;
  const outcomes = await runTasks(
    records.map((record) => ({
      id: record.resourceId,
      after: [],
      run: async () => {
        findings.set(record.resourceId, await detectOne(config, sessions, ctx, record, configured.get(record.resourceId)));
      },
    })),
    {
      parallelism: await atOnce(config, sessions, records, parallelism),
      signal: ctx.signal,
      onStarted: (id) => ctx.emit({ ...about(id), phase: "started" }),
      onSettled: (id, outcome) => {
        if (outcome.outcome === "succeeded") ctx.emit({ ...about(id), phase: "finished", durationMs: Math.round(outcome.elapsedMs), message: findings.get(id)?.class ?? "" });
        else if (outcome.outcome === "failed") ctx.emit({ ...about(id), phase: "failed", durationMs: Math.round(outcome.elapsedMs), errorCode: outcome.error.code, message: outcome.error.message });
        else ctx.emit({ ...about(id), phase: "skipped", message: outcome.reason });
      },
    },
  );
  const failed = [...outcomes.entries()].filter(([, o]) => o.outcome !== "succeeded");
  if (failed.length > 0) {
    const [id, first] = failed[0] as [string, (typeof failed)[number][1]];
    const why = first.outcome === "failed" ? first.error : WfctlError.from(ctx.signal.reason, ErrorCode.CANCELLED);
    throw new WfctlError(why.code, `drift detection failed for ${id}${failed.length > 1 ? ` (and ${failed.length - 1} more)` : ""}: ${why.message}`, { cause: why });
  }
  return records.map((r) => findings.get(r.resourceId) as DriftFinding).sort((a, b) => a.name.localeCompare(b.name));
}
