// Opening what an operation works on: the configuration for its environment
// (its input variables given this request's values),
// the state store that configuration names (sealing sensitive values on the
// way in), and the provider sessions its resources use.
import type { Logger } from "pino";
import { loadInfraConfig } from "../config/load.js";
import type { InfraConfig } from "../config/model.js";
import { applyVariables } from "../config/variable-substitution.js";
import { type MemoryStores, openStateStore } from "../state/open.js";
import type { PluginCatalog } from "../supervisor/catalog.js";
import { projectPluginSpecs } from "../supervisor/manifest.js";
import type { PluginSupervisor } from "../supervisor/supervisor.js";
import { type OperationContext, operationMetadata } from "./context.js";
import { ProviderSessions } from "./providers.js";
import type { Target } from "./request.js";
import { SealingStore } from "./sealing.js";

/** A configuration opened for one operation. */
export interface OpenedTarget {
  config: InfraConfig;
  /** The state store, sealing sensitive values on their way in (an apply declares the fields its plan found tainted). */
  store: SealingStore;
  sessions: ProviderSessions;
  /** What the store's calls to a plugin backend carry (the operation's metadata): the same again when it is reopened. */
  storeMetadata: Readonly<Record<string, string>>;
}

/** What opening a target needs from the engine. */
export interface EngineParts {
  supervisor: PluginSupervisor;
  memory: MemoryStores;
  logger: Logger;
}

/** The plugins a configuration can use: the built-in ones and those its wfctl.yaml declares (locked). */
export async function catalogFor(supervisor: PluginSupervisor, configDir: string): Promise<PluginCatalog> {
  return supervisor.catalog.extend(await projectPluginSpecs(configDir));
}

export async function openTarget(parts: EngineParts, ctx: OperationContext, target: Target): Promise<OpenedTarget> {
  const loaded = await loadInfraConfig(target.configPath, target.env, parts.logger);
  const config = await applyVariables(loaded, { environment: target.environment ?? {}, variables: target.variables ?? {}, variableFiles: target.variableFiles ?? [] });
  const catalog = await catalogFor(parts.supervisor, config.dir);
  const storeMetadata = operationMetadata(ctx, config.env);
  const backend = await openStateStore(config, { supervisor: parts.supervisor, catalog, memory: parts.memory, signal: ctx.signal, environment: ctx.environment, metadata: storeMetadata });
  const sessions = new ProviderSessions(config, parts.supervisor, catalog, ctx);
  // Sensitive values are sealed on their way into state, whatever saves them.
  const store = new SealingStore(backend, async (record) =>
    config.providers.has(record.provider) ? (await sessions.get(record.provider)).schema.types.get(record.resourceType) : undefined,
  );
  return { config, store, sessions, storeMetadata };
}
