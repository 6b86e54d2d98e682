// Which of the client's environment variables an operation on a target may
// read (the EnvironmentNames call): a warm daemon resolves every variable
// from the request, so the client must know what to send before it asks for
// a plan. The answer is generous where it must guess (every environment's
// overrides, every plugin the file names) and tolerant: a configuration that
// does not load still gets one, since the operation then says what is wrong.
import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { NEVER_INHERITED, matchesEnvPattern } from "../../proto/env-patterns.js";
import type { EnvironmentReferences } from "../config/env-references.js";
import { type ParseLog, loadForEnvironmentNames } from "../config/load.js";
import { VARIABLE_ENV_PREFIX } from "../config/variable-values.js";
import type { PluginCatalog } from "../supervisor/catalog.js";
import { LOCK_FILE, MANIFEST_FILE, projectPluginSpecs } from "../supervisor/manifest.js";
import { BASE_ENV } from "../supervisor/plugin-env.js";

/** Input variables (`WFCTL_VAR_<name>`): always asked for, whatever the file says. */
export const INPUT_VARIABLES = `${VARIABLE_ENV_PREFIX}*`;

/** The core backend that reads the PG* variables in the daemon itself (daemon/state/postgres.ts). */
const POSTGRES_FALLBACKS = "PG*";

/**
 * The names (exact, and `PREFIX_*`) of the variables an operation on a
 * configuration that has `references` may read: the `*_env` values anywhere
 * in its modules (every environment's overrides included), the
 * reads_env of each plugin it names (as `catalog` pins it), PG* for a
 * postgres state module, and WFCTL_VAR_*. Never a base variable (PATH,
 * HOME, ...: the daemon's own) nor NODE_OPTIONS. Sorted, once each.
 */
export function namesFor(references: EnvironmentReferences, catalog: PluginCatalog): string[] {
  const names = new Set<string>([INPUT_VARIABLES, ...references.envNames]);
  for (const { kind, name } of references.plugins) {
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
 * EnvironmentNames for the configuration at `configPath` (absolute) and
 * environment `env`, the project's own plugins added to `builtin`. What
 * cannot be read is left out: a file that does not parse yields WFCTL_VAR_*
 * alone, a wfctl.yaml or lockfile that does not load yields the built-in
 * plugins' variables. The file is parsed once for this and the operation
 * that follows (config/env-references.ts).
 */
export async function environmentNames(builtin: PluginCatalog, configPath: string, env = "", log?: ParseLog): Promise<string[]> {
  const current = await stamp(configPath);
  const cached = answers.get(configPath);
  if (cached?.stamp === current) return cached.names;
  let references: EnvironmentReferences | undefined;
  try {
    references = await loadForEnvironmentNames(configPath, env, log);
  } catch {
    // Not read (missing, not a regular file, too large, too slow): the operation says why.
  }
  if (!references) return [INPUT_VARIABLES];
  let catalog = builtin;
  try {
    catalog = builtin.extend(await projectPluginSpecs(dirname(configPath)));
  } catch {
    // The operation reports why the project's plugins do not load.
  }
  const names = namesFor(references, catalog);
  answers.delete(configPath);
  answers.set(configPath, { stamp: current, names });
  if (answers.size > KEPT) answers.delete(answers.keys().next().value as string);
  return names;
}
