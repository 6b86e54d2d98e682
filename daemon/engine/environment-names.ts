// Which of the client's environment variables an operation on a target may
// read (the EnvironmentNames call): a warm daemon resolves every variable
// from the request, so the client must know what to send before it asks for
// a plan. The answer is generous where it must guess (every environment's
// overrides, every plugin the file names) and tolerant: a configuration that
// does not load still gets one, since the operation then says what is wrong.
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { NEVER_INHERITED, matchesEnvPattern } from "../../proto/env-patterns.js";
import type { JsonValue } from "../../proto/json.js";
import { parseYamlFile } from "../config/load.js";
import { VARIABLE_ENV_PREFIX } from "../config/variable-values.js";
import { readConfigFile } from "../config/read.js";
import type { PluginCatalog, PluginKind } from "../supervisor/catalog.js";
import { LOCK_FILE, MANIFEST_FILE, projectPluginSpecs } from "../supervisor/manifest.js";
import { BASE_ENV, envNamesInConfig } from "../supervisor/plugin-env.js";

/** Input variables (`WFCTL_VAR_<name>`): always asked for, whatever the file says. */
export const INPUT_VARIABLES = `${VARIABLE_ENV_PREFIX}*`;

/** The core backend that reads the PG* variables in the daemon itself (daemon/state/postgres.ts). */
const POSTGRES_FALLBACKS = "PG*";

/** The plugins a raw configuration may use, by kind: every `provider:` of its providers, every `backend:` of its state module, in any environment. */
export function pluginsNamed(document: unknown): { kind: PluginKind; name: string }[] {
  const found = new Map<string, { kind: PluginKind; name: string }>();
  const modules = isObject(document) && Array.isArray(document["modules"]) ? document["modules"] : [];
  for (const module of modules) {
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

/**
 * The names (exact, and `PREFIX_*`) of the variables an operation on the
 * configuration `document` may read: the `*_env` values anywhere in its
 * modules (every environment's overrides included), the
 * reads_env of each plugin it names (as `catalog` pins it), PG* for a
 * postgres state module, and WFCTL_VAR_*. Never a base variable (PATH,
 * HOME, ...: the daemon's own) nor NODE_OPTIONS. Sorted, once each.
 */
export function namesFor(document: unknown, catalog: PluginCatalog): string[] {
  // Modules only: an output sink's token_env is read by the client itself, and never sent.
  const modules = isObject(document) && Array.isArray(document["modules"]) ? (document["modules"] as JsonValue[]) : [];
  const names = new Set<string>([INPUT_VARIABLES, ...envNamesInConfig(modules)]);
  for (const { kind, name } of pluginsNamed(document)) {
    if (kind === "state_backend" && name === "postgres") names.add(POSTGRES_FALLBACKS);
    const spec = catalog.list().find((s) => s.kind === kind && s.name === name);
    for (const pattern of spec?.readsEnv ?? []) names.add(pattern);
  }
  const daemonOwn = (name: string) => NEVER_INHERITED.includes(name) || BASE_ENV.includes(name) || (!name.endsWith("*") && matchesEnvPattern(name, BASE_ENV));
  return [...names].filter((name) => !daemonOwn(name)).sort();
}

/** What decides an answer: the configuration file and the project's plugin files, as stat sees them. */
async function stamp(configPath: string): Promise<string> {
  const dir = dirname(configPath);
  const stats = await Promise.all(
    [configPath, join(dir, MANIFEST_FILE), join(dir, LOCK_FILE)].map((file) =>
      stat(file).then(
        (s) => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`,
        () => "-",
      ),
    ),
  );
  return stats.join("|");
}

/** The last answers, by configuration file: a warm `plan` asks each time, and the files rarely change. */
const answers = new Map<string, { stamp: string; names: string[] }>();
const KEPT = 64;

/**
 * EnvironmentNames for the configuration at `configPath` (absolute), the
 * project's own plugins added to `builtin`. What cannot be read is left
 * out: a file that does not parse yields WFCTL_VAR_* alone, a wfctl.yaml or
 * lockfile that does not load yields the built-in plugins' variables.
 */
export async function environmentNames(builtin: PluginCatalog, configPath: string): Promise<string[]> {
  const current = await stamp(configPath);
  const cached = answers.get(configPath);
  if (cached?.stamp === current) return cached.names;
  let document: unknown;
  try {
    document = (await parseYamlFile(configPath, await readConfigFile(configPath))).value;
  } catch {
    return [INPUT_VARIABLES];
  }
  let catalog = builtin;
  try {
    catalog = builtin.extend(await projectPluginSpecs(dirname(configPath)));
  } catch {
    // The operation reports why the project's plugins do not load.
  }
  const names = namesFor(document, catalog);
  answers.delete(configPath);
  answers.set(configPath, { stamp: current, names });
  if (answers.size > KEPT) answers.delete(answers.keys().next().value as string);
  return names;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
