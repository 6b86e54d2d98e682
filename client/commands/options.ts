// Flags shared by many commands, declared once.
import { type Command, InvalidArgumentError, Option } from "commander";
import { environmentNameProblem } from "../../proto/names.js";

/** --json, --no-daemon, --socket, --timeout. */
export function withCommonOptions(command: Command): Command {
  return command
    .addOption(new Option("--json", "print machine-readable JSON on stdout"))
    .addOption(new Option("--no-daemon", "run the engine in this process instead of through wfctld"))
    .addOption(new Option("--socket <path>", "daemon socket (default: $WFCTL_SOCKET, else a per-user runtime directory)"))
    .addOption(new Option("--timeout <duration>", "give up after this long (e.g. 30s, 5m); the operation is cancelled cleanly"));
}

/** -c/--config and --env, for commands about one configuration. */
export function withTargetOptions(command: Command): Command {
  return withCommonOptions(
    command
      .addOption(new Option("-c, --config <path>", "infrastructure configuration file").default("infra.yaml"))
      .addOption(environmentOption())
      .addOption(new Option("--var <name=value>", "set an input variable (repeatable; wins over --var-file and WFCTL_VAR_<name>)").argParser(collectVariable).default(undefined))
      .addOption(new Option("--var-file <path>", "read input variables from a YAML or JSON file (repeatable; later files win)").argParser(collect).default(undefined)),
  );
}

/** Input variable names: a letter or '_', then letters, digits and '_' (as `${var.NAME}` writes them). */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Collects a repeatable --var, checking it is name=value with a valid name. */
function collectVariable(value: string, previous: string[] | undefined): string[] {
  const at = value.indexOf("=");
  const name = at < 0 ? value : value.slice(0, at);
  if (at < 0) throw new InvalidArgumentError(`--var must be name=value, got "${name}"`);
  if (!VARIABLE_NAME.test(name)) throw new InvalidArgumentError(`--var: "${name}" is not a variable name (a letter or '_', then letters, digits and '_')`);
  return [...(previous ?? []), value];
}

/** Collects a repeatable flag. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * --env: checked as it is parsed, so a name outside the name rules (a path
 * such as ../x) is a usage error (exit 64) before the daemon, the state or
 * any file is touched.
 */
export function environmentOption(): Option {
  return new Option("--env <name>", "environment whose overrides apply (a name like a module's: letters, digits, '_', '.', '-')").argParser(environmentName);
}

/** Parses an --env value; commander reports a bad one, naming the flag, as a usage error. */
export function environmentName(value: string): string {
  const problem = environmentNameProblem(value);
  if (problem) throw new InvalidArgumentError(`--env ${problem}`);
  return value;
}

/** Parses a positive integer flag value; commander reports a bad one as a usage error. */
export function positiveInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}
