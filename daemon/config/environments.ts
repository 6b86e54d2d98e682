// Environment overrides (`--env NAME`): a module's `environments.NAME` entry
// renames it, swaps its provider or dependencies, merges into its config, or
// (when null) disables it in that environment.
import { type JsonObject, type JsonValue, isJsonObject } from "../../proto/json.js";
import type { RawModule } from "./schema.js";

/** A module after its environment's overrides: undefined when disabled there. */
export interface EnvironmentView {
  name: string;
  type: string;
  provider: string | undefined;
  config: JsonObject;
  dependsOn: string[];
  protected: boolean;
  createBeforeDestroy: boolean;
}

/** Deep-merges `override` into `base`: objects merge key by key, anything else replaces. */
export function mergeConfig(base: JsonObject, override: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = out[key];
    out[key] = isJsonObject(current) && isJsonObject(value) ? mergeConfig(current, value) : (value as JsonValue);
  }
  return out;
}

/** The module as it is in `env` ("" = no environment), or undefined if disabled there. */
export function resolveForEnvironment(module: RawModule, env: string): EnvironmentView | undefined {
  const base: EnvironmentView = {
    name: module.name,
    type: module.type,
    provider: module.provider,
    config: (module.config ?? {}) as JsonObject,
    dependsOn: module.depends_on ?? [],
    protected: module.protected ?? false,
    createBeforeDestroy: module.create_before_destroy ?? false,
  };
  if (env === "" || !module.environments || !(env in module.environments)) return base;
  const override = module.environments[env];
  if (override === null || override === undefined) return undefined;
  return {
    name: override.name ?? base.name,
    type: base.type,
    provider: override.provider ?? base.provider,
    config: override.config ? mergeConfig(base.config, override.config as JsonObject) : base.config,
    dependsOn: override.depends_on ?? base.dependsOn,
    protected: override.protected ?? base.protected,
    createBeforeDestroy: override.create_before_destroy ?? base.createBeforeDestroy,
  };
}
