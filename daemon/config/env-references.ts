// What EnvironmentNames needs of a configuration file, and the one parse that
// serves both it and the operation that follows. A client asks which of its
// variables to send (EnvironmentNames) and then sends the operation, naming
// the same file: the file is parsed once, here, for both. What is read from
// the raw document (the `*_env` values, the plugins it names) does not depend
// on any request's variables, nor does the configuration checked for the
// target's environment (variables are applied per request, later): both may
// serve the next request about the same text.
import type { JsonValue } from "../../proto/json.js";
import type { PluginKind } from "../supervisor/catalog.js";
import { envNamesInConfig } from "../supervisor/plugin-env.js";
import type { InfraConfig } from "./model.js";
import { checkInfraConfig } from "./parse.js";
import { SourceFile } from "./source.js";

/** The variables and plugins a raw configuration names, in any of its environments. */
export interface EnvironmentReferences {
  /** The `*_env` values anywhere in its modules (every environment's overrides included), sorted. */
  envNames: string[];
  /** Every `provider:` of its providers and `backend:` of its state module. */
  plugins: { kind: PluginKind; name: string }[];
}

/** The plugins a raw configuration may use, by kind: every `provider:` of its providers, every `backend:` of its state module, in any environment. */
export function pluginsNamed(document: unknown): { kind: PluginKind; name: string }[] {
  const found = new Map<string, { kind: PluginKind; name: string }>();
  for (const module of modulesOf(document)) {
    if (!isObject(module)) continue;
    const kind: PluginKind | undefined = module["type"] === "iac.provider" ? "provider" : module["type"] === "iac.state" ? "state_backend" : undefined;
    if (!kind) continue;
    const field = kind === "provider" ? "provider" : "backend";
    const overrides = isObject(module["environments"]) ? Object.values(module["environments"]) : [];
    for (const entry of [module, ...overrides]) {
      const value = isObject(entry) && isObject(entry["config"]) ? entry["config"][field] : undefined;
      if (typeof value === "string" && value !== "") found.set(`${kind}/${value}`, { kind, name: value });
    }
  }
  return [...found.values()];
}

/** What `document` (a raw configuration, of any shape) references. Modules only: an output sink's token_env is read by the client itself, and never sent. */
export function environmentReferences(document: unknown): EnvironmentReferences {
  return { envNames: envNamesInConfig(modulesOf(document)), plugins: pluginsNamed(document) };
}

/** A file parsed for EnvironmentNames: what it references, and the configuration for the environment asked (or why there is none). */
export interface ParsedForNames {
  /** Undefined when the file is not YAML (or its aliases are refused): the operation reports why. */
  references: EnvironmentReferences | undefined;
  loaded: { config: InfraConfig } | { error: unknown };
}

/**
 * Parses `text` once, for both: the raw document's references, then the
 * configuration checked and resolved for `env` from the same parsed
 * document. A file that does not check still yields its references.
 */
export function parseForNames(file: string, text: string, env: string, maxExpandedBytes?: number): ParsedForNames {
  let source: SourceFile;
  let references: EnvironmentReferences;
  try {
    source = SourceFile.parse(file, text, maxExpandedBytes);
    references = environmentReferences(source.value());
  } catch (error) {
    return { references: undefined, loaded: { error } };
  }
  try {
    return { references, loaded: { config: checkInfraConfig(source, env) } };
  } catch (error) {
    return { references, loaded: { error } };
  }
}

function modulesOf(document: unknown): JsonValue[] {
  return isObject(document) && Array.isArray(document["modules"]) ? (document["modules"] as JsonValue[]) : [];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
