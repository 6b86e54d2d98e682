// The environment a plugin starts with: never the daemon's whole environment
// (it may hold every secret of the host), only
//   1. a minimal base every process needs (PATH, HOME, locale, TMPDIR, ...)
//      and the SDK's own settings (OTEL_*, WFCTL_PLUGIN_LOG_LEVEL), from the
//      daemon's environment;
//   2. the variables the plugin declares it reads (its reads_env, pinned by
//      the catalog or the lockfile before it starts), from the environment of
//      the wfctl command whose request starts it (Target.environment);
//   3. the variables its configuration names in `*_env` fields
//      (`password_env: DB_PASSWORD` passes DB_PASSWORD), from that request too;
//   4. its `env:` from wfctl.yaml (pinned by the lockfile);
//   5. the handshake variables, set last so nothing can override them.
// A warm daemon serves many CI steps, each with its own credentials: 2 and 3
// are the step's, never the daemon's, and an instance serves only requests
// giving it the same values (the supervisor keys instances by their digest).
// NODE_OPTIONS is never passed from either environment (see NEVER_INHERITED).
import { createHmac, randomBytes } from "node:crypto";
import { ENV_NAME, NEVER_INHERITED, matchesEnvPattern } from "../../proto/env-patterns.js";
import type { JsonValue } from "../../proto/json.js";

/**
 * What every plugin gets from the daemon's environment: what a process needs
 * to run (PATH, HOME, USER, LOGNAME, locale, TZ, TMPDIR) and what the plugin
 * SDK itself reads (OTEL_* for tracing across the boundary, the log level).
 */
export const BASE_ENV: readonly string[] = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "LANG",
  "LANGUAGE",
  "LC_*",
  "TZ",
  "TMPDIR",
  "OTEL_*",
  "WFCTL_PLUGIN_LOG_LEVEL",
];

/** Which variables a plugin may be given from a request's environment. */
export interface PluginEnvNames {
  /** Variables the plugin declares it reads (names and `PREFIX_*`); undefined: none. */
  readsEnv?: readonly string[] | undefined;
  /** Variables its configuration names in `*_env` fields. */
  configEnv?: readonly string[] | undefined;
}

/** What decides a plugin's environment, beside the daemon's base. */
export interface PluginEnvSource extends PluginEnvNames {
  /** Set as given (wfctl.yaml `env:`, pinned by the lockfile). */
  env: Readonly<Record<string, string>>;
  /** The request's variables it was given (givenEnvironment); undefined: none. */
  environment?: Readonly<Record<string, string>> | undefined;
}

/**
 * The variables of a request's environment (the wfctl command's) that a
 * plugin gets: those it declares it reads and those its configuration names,
 * never NODE_OPTIONS, and never a base variable (those are the daemon's).
 */
export function givenEnvironment(names: PluginEnvNames, requestEnv: Readonly<Record<string, string>>): Record<string, string> {
  const declared = names.readsEnv ?? [];
  const named = new Set(names.configEnv ?? []);
  const given: Record<string, string> = {};
  for (const name of Object.keys(requestEnv).sort()) {
    if (!ENV_NAME.test(name) || NEVER_INHERITED.includes(name) || matchesEnvPattern(name, BASE_ENV)) continue;
    if (matchesEnvPattern(name, declared) || named.has(name)) given[name] = requestEnv[name] as string;
  }
  return given;
}

/** The environment to start a plugin with; `handshake` (WFCTL_PLUGIN_*) is set last. */
export function pluginEnvironment(
  source: PluginEnvSource,
  daemonEnv: NodeJS.ProcessEnv,
  handshake: Readonly<Record<string, string>>,
): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [name, value] of Object.entries(daemonEnv)) {
    if (value !== undefined && !NEVER_INHERITED.includes(name) && matchesEnvPattern(name, BASE_ENV)) base[name] = value;
  }
  // Filtered again: whatever a caller put in `environment`, only what the plugin may read gets through.
  return { ...base, ...givenEnvironment(source, source.environment ?? {}), ...source.env, ...handshake };
}

/** Keys the environment digests of this process: a digest seen in `plugins list` cannot be checked against guessed values elsewhere. */
const DIGEST_KEY = randomBytes(32);

/**
 * A digest (HMAC-SHA256, keyed per process) of the variables a plugin was
 * given, names and values: what tells two instances of one plugin
 * configuration apart when two steps give it different credentials. "" for none.
 */
export function environmentDigest(environment: Readonly<Record<string, string>> | undefined): string {
  const names = Object.keys(environment ?? {}).sort();
  if (names.length === 0) return "";
  const hmac = createHmac("sha256", DIGEST_KEY);
  for (const name of names) hmac.update(`${name}\0${(environment as Record<string, string>)[name]}\0`);
  return hmac.digest("hex");
}

/**
 * The variables a plugin's configuration names: the string value of every
 * key ending in `_env` (at any depth) that is a variable name. This is the
 * convention of every shipped plugin (`password_env`, `url_env`,
 * `access_key_id_env`, ...): a secret is never written in the configuration,
 * only the name of the variable holding it. Sorted, without duplicates.
 */
export function envNamesInConfig(values: readonly JsonValue[]): string[] {
  const names = new Set<string>();
  const visit = (value: JsonValue, key: string | undefined): void => {
    if (typeof value === "string") {
      if (key?.endsWith("_env") && ENV_NAME.test(value)) names.add(value);
    } else if (Array.isArray(value)) {
      for (const item of value) visit(item, key);
    } else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) visit(v, k);
    }
  };
  for (const value of values) visit(value, undefined);
  return [...names].sort();
}
