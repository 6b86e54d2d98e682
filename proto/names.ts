// The one rule for names that end up in paths, state keys and URLs: module
// names and environment names. An environment names its state namespace (a
// directory of the filesystem backend, a key prefix elsewhere), so a name
// such as "../../x" would put state, and create directories, outside the
// state directory. The client checks --env with it before contacting
// anything, the daemon checks every request and configuration with it.

/** Module and environment names: a letter or digit, then letters, digits, '_', '.', '-'; at most 128. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The rule in words, for error messages. */
export const NAME_RULE = "must start with a letter or digit and use only letters, digits, '_', '.', '-' (at most 128)";

/**
 * Why `env` cannot be an environment name ("must be …", to follow the name
 * of the flag or field), or undefined when it can. The empty string means
 * "no environment" (the default namespace) and is allowed.
 */
export function environmentNameProblem(env: string): string | undefined {
  if (env === "" || NAME_PATTERN.test(env)) return undefined;
  return `must be an environment name: it ${NAME_RULE}, like a module name; got ${JSON.stringify(env)}`;
}
