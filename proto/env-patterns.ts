// Which host environment variables a plugin reads: a list of names ("PGHOST")
// and prefixes ("AWS_*"), as a plugin declares it in GetInfo.reads_env and as
// the daemon pins it (built-in catalog, lockfile). Shared by the SDK, which
// checks a plugin's own declaration, and the daemon, which filters the
// environment it starts the plugin with.

/** A variable name: letters, digits and '_', not starting with a digit. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A name, or a non-empty prefix followed by one trailing '*'. */
const ENV_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;

/**
 * Never passed from the host's environment, whoever declares it: a variable
 * Node.js itself reads at start-up to load code (`--require`, `--import`),
 * so it would run code the lockfile never saw. A plugin that needs it gets it
 * from its `env:` in wfctl.yaml, which the lockfile pins.
 */
export const NEVER_INHERITED: readonly string[] = ["NODE_OPTIONS"];

/** The problems of a reads_env list, one per bad entry (empty when it is fine). */
export function envPatternProblems(patterns: readonly string[]): string[] {
  const problems: string[] = [];
  for (const pattern of patterns) {
    if (!ENV_PATTERN.test(pattern)) {
      problems.push(`${JSON.stringify(pattern)} is neither a variable name (PGHOST) nor a prefix ending in one '*' (AWS_*)`);
    }
  }
  return problems;
}

/** Whether `name` is one of `patterns` or starts with one of its prefixes. */
export function matchesEnvPattern(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** The list sorted and without duplicates: the form pinned and compared. */
export function normalizeEnvPatterns(patterns: readonly string[]): string[] {
  return [...new Set(patterns)].sort();
}
