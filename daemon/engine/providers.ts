// The providers an operation uses: each iac.provider module resolved to a
// running, configured plugin instance (shared across operations while its
// configuration is the same), with its schema.
import { createHash } from "node:crypto";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type FieldMap, fieldMapFromProto, withDefaults } from "../../proto/fields.js";
import { IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { CallOptions, UnaryClient } from "../../proto/grpc.js";
import { canonicalJson, encodeJson } from "../../proto/json.js";
import type { InfraConfig, ProviderModule, ResourceModule } from "../config/model.js";
import type { PluginInstance } from "../supervisor/instance.js";
import { type PluginCatalog, forRequest } from "../supervisor/catalog.js";
import { envNamesInConfig } from "../supervisor/plugin-env.js";
import type { PluginSupervisor, SetupRun } from "../supervisor/supervisor.js";
import { CALL_TIMEOUTS, type OperationContext, operationMetadata } from "./context.js";
import { type DetectDriftCall, batchingClient, batchingDriftDetector } from "./provider-batch.js";

/** What a provider plugin says it manages. */
export interface ProviderSchema {
  config: FieldMap;
  types: ReadonlyMap<string, FieldMap>;
}

export interface ProviderHandle {
  module: ProviderModule;
  instance: PluginInstance;
  client: UnaryClient<typeof IaCProvider>;
  /** Its DetectDrift, when the plugin serves IaCDriftDetector (batched, as reads and plans are). */
  detectDrift: DetectDriftCall | undefined;
  schema: ProviderSchema;
}

const schemas = new WeakMap<PluginInstance, ProviderSchema>();

/**
 * Identifies a provider configuration: one plugin instance per distinct key.
 * The variables its configuration names (`*_env` fields) are part of it, and
 * the supervisor adds the digest of their values (and of its reads_env's) as
 * the request gave them: an instance holds only those it was started with.
 */
export function instanceKey(plugin: string, config: unknown, workingDir: string, envNames: readonly string[] = []): string {
  const identity = { plugin, config: config as never, workingDir, ...(envNames.length > 0 ? { env: [...envNames] } : {}) };
  return createHash("sha256").update(canonicalJson(identity)).digest("hex");
}

/**
 * Options for the calls of one run of a provider's setup (GetSchema,
 * Configure). Each run gets a fresh deadline (now + the quick call limit) and
 * never the operation's signal or deadline: the first start goes on for the
 * next caller when this one gives up, and a restart may come long after the
 * operation that first acquired the plugin has ended. Only a first start
 * carries that operation's trace and id; a restart belongs to no operation.
 */
export function setupCallOptions(ctx: OperationContext, env: string, run: SetupRun): CallOptions {
  const deadline = new Date(Date.now() + CALL_TIMEOUTS.quick);
  if (run.restart) return { deadline, metadata: { "wfctl-environment": env } };
  return { deadline, metadata: operationMetadata(ctx, env) };
}

/**
 * `resource` as a plugin's Plan and Apply receive it, and as state records it
 * when Apply returns no applied configuration: with the defaults its type's
 * schema declares filled in for the fields its configuration omits.
 */
export function withSchemaDefaults(resource: ResourceModule, handle: ProviderHandle): ResourceModule {
  const fields = handle.schema.types.get(resource.type);
  return fields ? { ...resource, config: withDefaults(resource.config, fields) } : resource;
}

export class ProviderSessions {
  private readonly handles = new Map<string, Promise<ProviderHandle>>();

  constructor(
    private readonly config: InfraConfig,
    private readonly supervisor: PluginSupervisor,
    private readonly catalog: PluginCatalog,
    private readonly ctx: OperationContext,
  ) {}

  /** The handle for the iac.provider module with this (resolved) name. */
  get(name: string): Promise<ProviderHandle> {
    let handle = this.handles.get(name);
    if (!handle) {
      handle = this.open(name);
      this.handles.set(name, handle);
    }
    return handle;
  }

  private async open(name: string): Promise<ProviderHandle> {
    const module = this.config.providers.get(name);
    if (!module) throw new WfctlError(ErrorCode.CONFIG_INVALID, `${this.config.file}: no iac.provider module named "${name}"`);
    // The variables its settings and its resources name (`password_env: ...`) go to its process, from the request's environment.
    const envNames = envNamesInConfig([module.config, ...this.config.resources.filter((r) => r.provider === name).map((r) => r.config)]);
    const key = instanceKey(module.plugin, module.config, this.config.dir, envNames);
    const spec = forRequest(this.catalog.get("provider", module.plugin), envNames, this.ctx.environment);
    const instance = await this.supervisor.acquire(spec, key, async (i, run) => {
      const client = i.client(IaCProvider);
      const options = setupCallOptions(this.ctx, this.config.env, run);
      const schema = await client.getSchema({}, options);
      const config = fieldMapFromProto(schema.configFields);
      schemas.set(i, { config, types: new Map(schema.resourceTypes.map((t) => [t.type, fieldMapFromProto(t.fields)])) });
      try {
        // Once per process (a restarted plugin is configured again), with the schema's defaults filled in.
        await client.configure({ configJson: encodeJson(withDefaults(module.config, config)), workingDir: this.config.dir }, options);
      } catch (err) {
        const error = WfctlError.from(err);
        if (error.code !== ErrorCode.CONFIG_INVALID) throw error;
        throw new WfctlError(ErrorCode.CONFIG_INVALID, `${this.config.file}: module "${module.baseName}" (iac.provider): ${error.message}`, {
          cause: err,
          details: error.details.map((d) => ({ ...d, file: this.config.file, module: module.baseName, field: d.field ? (d.field.startsWith("config.") ? d.field : `config.${d.field}`) : undefined })),
        });
      }
    }, this.ctx.signal);
    const schema = schemas.get(instance);
    if (!schema) throw new WfctlError(ErrorCode.INTERNAL, `${instance.who}: schema missing`);
    const detectDrift = instance.serves(IaCDriftDetector) ? batchingDriftDetector(instance) : undefined;
    return { module, instance, client: batchingClient(instance, instance.client(IaCProvider)), detectDrift, schema };
  }
}
