// Opening the state store an iac.state module names: the core backends
// in-process, any other name through a plugin that serves it. A backend that
// cannot be opened is an error; there is no silent fallback to no persistence.
import { resolve, join } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { canonicalJson, encodeJson } from "../../proto/json.js";
import { CORE_BACKENDS, type StateStore } from "../../proto/state-store.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import type { InfraConfig } from "../config/model.js";
import { type PluginCatalog, forRequest } from "../supervisor/catalog.js";
import { envNamesInConfig } from "../supervisor/plugin-env.js";
import type { PluginSupervisor } from "../supervisor/supervisor.js";
import { FilesystemStateStore } from "./filesystem.js";
import { MemoryStateStore } from "./memory.js";
import { PostgresStateStore, describePostgres, postgresSettings } from "./postgres.js";
import { PluginStateStore } from "../../proto/plugin-state-store.js";
import { createHash } from "node:crypto";

/** Memory stores outlive a single operation: one per configuration file and namespace. */
export class MemoryStores {
  private readonly stores = new Map<string, MemoryStateStore>();

  get(key: string): MemoryStateStore {
    let store = this.stores.get(key);
    if (!store) {
      store = new MemoryStateStore();
      this.stores.set(key, store);
    }
    return store;
  }
}

export interface OpenContext {
  supervisor: PluginSupervisor;
  /** Where plugin names resolve: the built-in plugins and the project's own. */
  catalog: PluginCatalog;
  memory: MemoryStores;
  signal: AbortSignal;
  /** The wfctl command's environment: where `*_env` fields (and the PG* fallbacks) are read, never the daemon's. */
  environment: Readonly<Record<string, string>>;
  /**
   * What a plugin backend's calls carry, as a provider's do: the operation's
   * id, name, environment, caller and traceparent (operationMetadata).
   * Absent: none (the store is opened for no operation).
   */
  metadata?: Readonly<Record<string, string>>;
}

/** Where an operation's state lives: what plan, apply, destroy and drift tell their caller. */
export interface StateLocation {
  /** describeBackend's description. */
  backend: string;
  namespace: string;
}

/** Where `config`'s state lives. */
export function locateState(config: InfraConfig): StateLocation {
  return { backend: describeBackend(config), namespace: config.namespace };
}

/** A short description of where state lives, for messages and `state list`: from the configuration alone, never a variable's value. */
export function describeBackend(config: InfraConfig): string {
  const { state } = config;
  if (state.backend === "filesystem") return `filesystem (${join(resolve(config.dir, String(state.config["directory"])), config.namespace)})`;
  if (state.backend === "postgres") {
    try {
      return `${describePostgres(state.config)}, namespace ${config.namespace}`;
    } catch {
      return `postgres (namespace ${config.namespace})`;
    }
  }
  return `${state.backend} (namespace ${config.namespace})`;
}

export async function openStateStore(config: InfraConfig, ctx: OpenContext): Promise<StateStore> {
  const { state } = config;
  switch (state.backend) {
    case "memory":
      return ctx.memory.get(`${config.file}#${config.namespace}`);
    case "filesystem": {
      const directory = state.config["directory"];
      if (typeof directory !== "string" || directory === "") {
        throw new WfctlError(ErrorCode.CONFIG_INVALID, `${config.file}: module "${state.name}": field "config.directory" must be a path`);
      }
      return FilesystemStateStore.open(join(resolve(config.dir, directory), config.namespace));
    }
    case "postgres":
      return PostgresStateStore.open(postgresSettings(state.config, `${config.file}: module "${state.name}"`, ctx.environment), config.namespace, { signal: ctx.signal });
    default:
      break;
  }
  if (CORE_BACKENDS.includes(state.backend)) throw new WfctlError(ErrorCode.INTERNAL, `core backend ${state.backend} has no opener`);
  const key = createHash("sha256").update(canonicalJson({ backend: state.backend, config: state.config, dir: config.dir, namespace: config.namespace })).digest("hex");
  try {
    // The key covers state.config, and so the variables it names (`*_env` fields), which go to the process
    // with their values from the request (the supervisor adds their digest to the key).
    const spec = forRequest(ctx.catalog.get("state_backend", state.backend), envNamesInConfig([state.config]), ctx.environment);
    const metadata = ctx.metadata ?? {};
    const instance = await ctx.supervisor.acquire(spec, key, async (i, run) => {
      if (!i.info?.stateBackends.includes(state.backend)) {
        throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${i.who} does not declare backend "${state.backend}" (it declares: ${i.info?.stateBackends.join(", ") || "none"})`);
      }
      const reserved = i.info.stateBackends.filter((b) => CORE_BACKENDS.includes(b));
      if (reserved.length > 0) {
        throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${i.who} claims core backend name(s) ${reserved.join(", ")}; core names are reserved`);
      }
      await i.client(IaCStateBackendSetup).configure(
        { backend: state.backend, configJson: encodeJson(state.config), workingDir: config.dir, namespace: config.namespace },
        // Not the operation's signal: setup runs again, alone, after a restart (which belongs to no operation).
        { deadline: new Date(Date.now() + 60_000), metadata: run.restart ? { "wfctl-environment": metadata["wfctl-environment"] ?? "" } : { ...metadata } },
      );
    }, ctx.signal);
    return new PluginStateStore(() => instance.client(IaCStateBackend), metadata);
  } catch (err) {
    const error = WfctlError.from(err);
    if (error.code === ErrorCode.PLUGIN_NOT_FOUND || error.code === ErrorCode.CONFIG_INVALID) throw error;
    // Every code that says why keeps it (a plugin refused for what it is, PLUGIN_CHECKSUM_MISMATCH and the
    // other PLUGIN_* codes, PERMISSION_DENIED, a deadline): retrying cannot help those that exit 1.
    const code = OPEN_FAILED.includes(error.code) ? ErrorCode.STATE_BACKEND_UNAVAILABLE : error.code;
    throw error.rephrased(`cannot open state backend "${state.backend}": ${error.message}`, code);
  }
}

/**
 * Codes that say no more than "it failed" (a plugin's Configure that threw,
 * or refused what the daemon sent): a backend that cannot be opened is
 * STATE_BACKEND_UNAVAILABLE then.
 */
const OPEN_FAILED: readonly ErrorCode[] = [ErrorCode.UNKNOWN, ErrorCode.INTERNAL, ErrorCode.PROVIDER_ERROR, ErrorCode.INVALID_ARGUMENT];
