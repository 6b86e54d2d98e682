// The environment a plugin starts with: never the daemon's whole environment
// (it may hold every secret of the host), only
//   1. a minimal base every process needs (PATH, HOME, locale, TMPDIR, ...)
//      and the SDK's own settings (OTEL_*, WFCTL_PLUGIN_LOG_LEVEL);
//   2. the daemon's variables the plugin declares it reads (its reads_env,
//      pinned by the catalog or the lockfile before it starts);
//   3. the daemon's variables its configuration names in `*_env` fields
//      (`password_env: DB_PASSWORD` passes DB_PASSWORD);
//   4. its `env:` from wfctl.yaml (pinned by the lockfile);
//   5. the handshake variables, set last so nothing can override them.
// NODE_OPTIONS is never taken from the daemon's environment (see NEVER_INHERITED).
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

/** What decides a plugin's environment, beside the daemon's own. */
export interface PluginEnvSource {
  /** Variables the plugin declares it reads (names and `PREFIX_*`); undefined: none. */
  readsEnv?: readonly string[] | undefined;
  /** Variables its configuration names in `*_env` fields. */
  configEnv?: readonly string[] | undefined;
  /** Set as given (wfctl.yaml `env:`, pinned by the lockfile). */
  env: Readonly<Record<string, string>>;
}

/** The environment to start a plugin with; `handshake` (WFCTL_PLUGIN_*) is set last. */
export function pluginEnvironment(
  source: PluginEnvSource,
  daemonEnv: NodeJS.ProcessEnv,
  handshake: Readonly<Record<string, string>>,
): Record<string, string> {
  const inherited = [...BASE_ENV, ...(source.readsEnv ?? [])];
  const named = new Set(source.configEnv ?? []);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(daemonEnv)) {
    if (value === undefined || NEVER_INHERITED.includes(name)) continue;
    if (matchesEnvPattern(name, inherited) || named.has(name)) env[name] = value;
  }
  return { ...env, ...source.env, ...handshake };
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
