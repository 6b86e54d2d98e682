// Providers in a few lines: an author describes resource types (fields and
// create/read/update/delete), and the SDK serves wfctl.plugin.v1.IaCProvider
// (and IaCDriftDetector) for them, with a schema-driven default plan and
// drift classification.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import {
  type FieldDifference,
  type FieldMap,
  diffFields,
  fieldMapToProto,
  sameJson,
  validateFields,
  withDefaults,
} from "../../proto/fields.js";
import {
  Action,
  DriftClass,
  IaCDriftDetector,
  IaCProvider,
  type PriorState,
  type ResourceRef as ResourceRefMessage,
} from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { UnaryHandlers } from "../../proto/grpc.js";
import { type JsonObject, type JsonValue, decodeJsonObject, encodeJson } from "../../proto/json.js";
import type { CallContext, CallRunner } from "./context.js";
import type { PluginLogger } from "./logger.js";

/** A resource's name (environment-resolved) and type. */
export interface ResourceRef {
  name: string;
  type: string;
}

/** What state recorded after the last apply. */
export interface PriorResource {
  providerId: string;
  config: JsonObject;
  outputs: JsonObject;
}

/** The result of a create or update. */
export interface AppliedResource {
  /** The provider's identifier for the resource (a path, an ARN, an id). */
  providerId: string;
  outputs?: JsonObject;
}

/**
 * What read() found. `providerId` is needed when the prior's was empty (a
 * create whose outcome the host never learned: find the resource by its
 * configuration), and optional otherwise.
 */
export type ReadResult = { found: false } | { found: true; config: JsonObject; outputs?: JsonObject; providerId?: string };

export type PlanAction = "noop" | "create" | "update" | "replace" | "delete";

export interface PlanResult {
  action: PlanAction;
  changes: FieldDifference[];
}

export type DriftClassName = "unknown" | "in-sync" | "ghost" | "config";

export interface DriftReport {
  class: DriftClassName;
  drifted: boolean;
  fields: { field: string; expected: JsonValue | undefined; actual: JsonValue | undefined }[];
}

/** One resource type: its fields and how to create, read, update and delete it. */
export interface ResourceType<C> {
  description?: string;
  fields: FieldMap;
  create(request: { resource: ResourceRef; config: JsonObject; provider: C }, ctx: CallContext): Promise<AppliedResource>;
  read(request: { resource: ResourceRef; prior: PriorResource; provider: C }, ctx: CallContext): Promise<ReadResult>;
  update(
    request: { resource: ResourceRef; config: JsonObject; prior: PriorResource; provider: C },
    ctx: CallContext,
  ): Promise<AppliedResource>;
  delete(request: { resource: ResourceRef; prior: PriorResource; provider: C }, ctx: CallContext): Promise<void>;
  /** Optional: replaces the schema-driven plan (see planFromSchema). */
  plan?(request: { resource: ResourceRef; config: JsonObject; prior?: PriorResource; provider: C }, ctx: CallContext): Promise<PlanResult>;
  /** Optional: replaces drift classification from read() (see classifyDrift). */
  detectDrift?(request: { resource: ResourceRef; prior: PriorResource; provider: C }, ctx: CallContext): Promise<DriftReport>;
}

/** Everything a provider plugin is. `C` is what configure() returns. */
export interface ProviderDefinition<C> {
  /** Fields of the provider's own configuration (the iac.provider module). */
  config?: FieldMap;
  /** Called once, before any resource call; its result is passed to every handler. */
  configure(config: JsonObject, ctx: { workingDir: string; signal: AbortSignal }): Promise<C> | C;
  /**
   * Optional: releases what configure() made (connection pools, clients,
   * temporary files). Called once for each configured value that is done
   * with: when the plugin stops (SIGTERM, SIGINT, the host's Shutdown call,
   * the host gone), after the calls in flight have finished or been
   * cancelled and before the process exits; and when a later Configure
   * replaces it. `signal` aborts when the time for it is up.
   */
  close?(configured: C, ctx: { signal: AbortSignal; log: PluginLogger }): Promise<void> | void;
  resources: Readonly<Record<string, ResourceType<C>>>;
  /**
   * Serve IaCDriftDetector: types without detectDrift are classified by
   * comparing read() with the recorded configuration.
   */
  classifiesDrift?: boolean;
  /**
   * How many items of one IaCBatchProvider call (the host's batched reads
   * and plans) run at once; default 10. Lower it for an API with tight rate
   * limits.
   */
  batchParallelism?: number;
}

/** Identity function that lets TypeScript infer `C`. */
export function defineProvider<C>(definition: ProviderDefinition<C>): ProviderDefinition<C> {
  return definition;
}

/**
 * The default plan: a field diff against the prior config; a force-new field
 * replaces. Values compare plainly: a sensitive value the prior holds sealed
 * differs here, and the host drops that change when the seal matches.
 */
export function planFromSchema(config: JsonObject, prior: PriorResource | undefined, fields: FieldMap): PlanResult {
  const desired = withDefaults(config, fields);
  const changes = diffFields(prior?.config, desired, fields, sameJson);
  if (!prior) return { action: "create", changes };
  if (changes.length === 0) return { action: "noop", changes };
  return { action: changes.some((c) => c.forcesReplace) ? "replace" : "update", changes };
}

/** Default drift classification from what read() observes now (plain comparison too: the host settles seals). */
export function classifyDrift(prior: PriorResource, observed: ReadResult, fields: FieldMap): DriftReport {
  if (!observed.found) return { class: "ghost", drifted: true, fields: [] };
  const differences = diffFields(prior.config, observed.config, fields, sameJson);
  if (differences.length === 0) return { class: "in-sync", drifted: false, fields: [] };
  return {
    class: "config",
    drifted: true,
    fields: differences.map((d) => ({ field: d.field, expected: d.before, actual: d.after })),
  };
}

const actionToProto: Record<PlanAction, Action> = {
  noop: Action.NOOP,
  create: Action.CREATE,
  update: Action.UPDATE,
  replace: Action.REPLACE,
  delete: Action.DELETE,
};

const driftToProto: Record<DriftClassName, DriftClass> = {
  unknown: DriftClass.UNKNOWN,
  "in-sync": DriftClass.IN_SYNC,
  ghost: DriftClass.GHOST,
  config: DriftClass.CONFIG,
};

const jsonOrEmpty = (value: JsonValue | undefined): Uint8Array => (value === undefined ? new Uint8Array() : encodeJson(value));

function prior(message: PriorState | undefined, what: string): PriorResource | undefined {
  if (!message) return undefined;
  return {
    providerId: message.providerId,
    config: decodeJsonObject(message.configJson, `${what}: prior config_json`),
    outputs: decodeJsonObject(message.outputsJson, `${what}: prior outputs_json`),
  };
}

function requirePrior(message: PriorState | undefined, what: string): PriorResource {
  const p = prior(message, what);
  if (!p) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${what}: prior state is required`);
  return p;
}

/** How long a provider's close() may take (the host sends SIGKILL 5 s after SIGTERM). */
export const CLOSE_LIMIT_MS = 3_000;

/** Binds a provider definition to the IaCProvider and IaCDriftDetector gRPC handlers. */
export class ProviderServer<C> {
  private configured: { value: C } | undefined;

  constructor(private readonly definition: ProviderDefinition<C>) {}

  /** Runs the definition's close() for `value`, waiting at most `limitMs`; a failure is logged, never thrown. */
  private async closeValue(value: C, log: PluginLogger, limitMs: number): Promise<void> {
    const close = this.definition.close;
    if (!close) return;
    const signal = AbortSignal.timeout(limitMs);
    const timedOut = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    try {
      await Promise.race([Promise.resolve(close.call(this.definition, value, { signal, log })), timedOut]);
      if (signal.aborted) log.warn({ ms: limitMs }, "close() did not finish in time");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "close() failed");
    }
  }

  /** At shutdown: closes what configure() made, if it ran. */
  async close(log: PluginLogger, limitMs = CLOSE_LIMIT_MS): Promise<void> {
    const configured = this.configured;
    this.configured = undefined;
    if (configured) await this.closeValue(configured.value, log, limitMs);
  }

  private provider(): C {
    if (!this.configured) throw new WfctlError(ErrorCode.FAILED_PRECONDITION, "provider is not configured: the host must call Configure first");
    return this.configured.value;
  }

  private resourceType(ref: ResourceRefMessage | undefined): { ref: ResourceRef; type: ResourceType<C>; what: string } {
    if (!ref) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "resource is required");
    const type = this.definition.resources[ref.type];
    const what = `${ref.name} (${ref.type})`;
    if (!type) {
      throw new WfctlError(
        ErrorCode.INVALID_ARGUMENT,
        `${what}: unknown resource type "${ref.type}" (this provider manages: ${Object.keys(this.definition.resources).join(", ")})`,
      );
    }
    return { ref: { name: ref.name, type: ref.type }, type, what };
  }

  private desired(bytes: Uint8Array, type: ResourceType<C>, what: string): JsonObject {
    const config = decodeJsonObject(bytes, `${what}: config_json`);
    const problems = validateFields(config, type.fields);
    if (problems.length > 0) {
      throw new WfctlError(ErrorCode.CONFIG_INVALID, `${what}: ${problems.map((p) => `field "${p.field}" ${p.message}`).join("; ")}`, {
        details: problems.map((p) => ({ field: p.field, message: p.message })),
      });
    }
    return withDefaults(config, type.fields);
  }

  providerHandlers(call: CallRunner): UnaryHandlers<typeof IaCProvider> {
    const def = this.definition;
    return {
      getSchema: async () => ({
        configFields: fieldMapToProto(def.config ?? {}),
        resourceTypes: Object.entries(def.resources).map(([type, r]) => ({
          type,
          description: r.description ?? "",
          fields: fieldMapToProto(r.fields),
        })),
      }),
      configure: (request, server) =>
        call(server, async (ctx) => {
          const config = decodeJsonObject(request.configJson, "provider config_json");
          const problems = validateFields(config, def.config ?? {});
          if (problems.length > 0) {
            throw new WfctlError(ErrorCode.CONFIG_INVALID, `provider configuration: ${problems.map((p) => `field "${p.field}" ${p.message}`).join("; ")}`, {
              details: problems.map((p) => ({ field: p.field, message: p.message })),
            });
          }
          const value = await def.configure(withDefaults(config, def.config ?? {}), { workingDir: request.workingDir, signal: ctx.signal });
          const previous = this.configured;
          this.configured = { value };
          if (previous) await this.closeValue(previous.value, ctx.log, CLOSE_LIMIT_MS);
          return {};
        }),
      plan: (request, server) =>
        call(server, async (ctx) => {
          const { ref, type, what } = this.resourceType(request.resource);
          const config = this.desired(request.desiredConfigJson, type, what);
          const p = prior(request.prior, what);
          // A plan is worth nothing to a caller that gave up: it gets no answer but that, whoever plans.
          ctx.signal.throwIfAborted();
          const result = type.plan
            ? await type.plan({ resource: ref, config, prior: p, provider: this.provider() }, ctx)
            : planFromSchema(config, p, type.fields);
          return {
            action: actionToProto[result.action],
            changes: result.changes.map((c) => ({
              field: c.field,
              beforeJson: jsonOrEmpty(c.before),
              afterJson: jsonOrEmpty(c.after),
              forcesReplace: c.forcesReplace,
              sensitive: c.sensitive,
            })),
          };
        }),
      apply: (request, server) =>
        call(server, async (ctx) => {
          const { ref, type, what } = this.resourceType(request.resource);
          const provider = this.provider();
          switch (request.action) {
            case Action.CREATE: {
              const config = this.desired(request.desiredConfigJson, type, what);
              const applied = await type.create({ resource: ref, config, provider }, ctx);
              return { providerId: applied.providerId, outputsJson: encodeJson(applied.outputs ?? {}), appliedConfigJson: encodeJson(config) };
            }
            case Action.UPDATE: {
              const config = this.desired(request.desiredConfigJson, type, what);
              const applied = await type.update({ resource: ref, config, prior: requirePrior(request.prior, what), provider }, ctx);
              return { providerId: applied.providerId, outputsJson: encodeJson(applied.outputs ?? {}), appliedConfigJson: encodeJson(config) };
            }
            case Action.DELETE:
              await type.delete({ resource: ref, prior: requirePrior(request.prior, what), provider }, ctx);
              return {};
            default:
              throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${what}: apply takes CREATE, UPDATE or DELETE, not ${Action[request.action] ?? request.action}`);
          }
        }),
      read: (request, server) =>
        call(server, async (ctx) => {
          const { ref, type, what } = this.resourceType(request.resource);
          const result = await type.read({ resource: ref, prior: requirePrior(request.prior, what), provider: this.provider() }, ctx);
          if (!result.found) return { found: false };
          return { found: true, configJson: encodeJson(result.config), outputsJson: encodeJson(result.outputs ?? {}), providerId: result.providerId ?? "" };
        }),
    };
  }

  driftHandlers(call: CallRunner): UnaryHandlers<typeof IaCDriftDetector> {
    return {
      detectDrift: (request, server) =>
        call(server, async (ctx) => {
          const { ref, type, what } = this.resourceType(request.resource);
          const p = requirePrior(request.prior, what);
          const provider = this.provider();
          const report = type.detectDrift
            ? await type.detectDrift({ resource: ref, prior: p, provider }, ctx)
            : classifyDrift(p, await type.read({ resource: ref, prior: p, provider }, ctx), type.fields);
          return {
            result: {
              class: driftToProto[report.class],
              drifted: report.drifted,
              fields: report.fields.map((f) => ({ field: f.field, expectedJson: jsonOrEmpty(f.expected), actualJson: jsonOrEmpty(f.actual) })),
            },
          };
        }),
    };
  }
}
