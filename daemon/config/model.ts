// The configuration as the engine sees it: loaded, checked, and resolved for
// one environment (names, providers and state backend included).
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { JsonObject, JsonValue } from "../../proto/json.js";
import { environmentNameProblem } from "../../proto/names.js";
import type { StatusRange } from "./schema.js";
import type { LocatedSource } from "./positions.js";

/** Fields every resolved module has. */
interface ModuleBase {
  /** Environment-resolved name: what state, plans and outputs use. */
  name: string;
  /** The name as written at the top of the module. */
  baseName: string;
  /** Position of the module in `modules:` (for locating errors). */
  index: number;
}

/** An iac.provider module: which plugin, configured how. */
export interface ProviderModule extends ModuleBase {
  /** Plugin name (`config.provider`). */
  plugin: string;
  /** The rest of `config`, passed to the plugin's Configure. */
  config: JsonObject;
}

/** A resource module: something a provider creates. */
export interface ResourceModule extends ModuleBase {
  type: string;
  /** Resolved name of the iac.provider module that manages it. */
  provider: string;
  config: JsonObject;
  /** Resolved names of the resources it depends on (by depends_on and by references). */
  dependsOn: string[];
  /** Its configuration's ${module.field} references, with their targets' resolved names. */
  references: ResolvedReference[];
  protected: boolean;
  /**
   * When it is replaced, its replacement is created first, what depends on
   * it is pointed to the new one, and the old one is deleted last (the old
   * one is kept meanwhile as a deposed record: engine/deposed.ts). False:
   * the old one is deleted first, after what depends on it and is replaced too.
   */
  createBeforeDestroy: boolean;
  /**
   * Top-level fields of `config` that a sensitive input variable's value went
   * into (wholly or as part of a string): masked in plans and sealed in state,
   * like a field a sensitive reference fills. Empty before variables apply.
   */
  sensitiveFields: string[];
}

/** A ${module.field} reference, checked: the target exists and is a resource. */
export interface ResolvedReference {
  /** As written between ${ and }. */
  expression: string;
  /** Resolved name of the resource it names. */
  target: string;
  /** Field of its outputs or configuration; may be dotted. */
  field: string;
}

/** The iac.state module, or the embedded default when there is none. */
export interface StateModule {
  /** Module name; "" for the embedded default. */
  name: string;
  backend: string;
  config: JsonObject;
  /** undefined for the embedded default. */
  index: number | undefined;
}

/** One declared output, resolved for the environment. */
export interface OutputDeclaration {
  name: string;
  /** The source module as written (its base name). */
  module: string;
  /** Its environment-resolved name; undefined when the module is disabled in this environment. */
  resource: string | undefined;
  /** Field of the resource's outputs (or, failing that, of its applied config); may be dotted. */
  field: string;
  sensitive: boolean;
  description: string;
  /** Where `wfctl infra outputs --sync` writes the value. */
  sinks: OutputSinkDeclaration[];
}

/** A secret sink of an output, with its defaults filled in. */
export interface OutputSinkDeclaration {
  type: "github_secret" | "github_env";
  /** Secret or environment variable name (default: the output's name). */
  name: string;
  /** github_secret: owner/repo; "" means $GITHUB_REPOSITORY when it runs. */
  repository: string;
  /** github_secret: a deployment environment; "" for a repository secret. */
  environment: string;
  /** github_secret: the environment variable holding the API token. */
  tokenEnv: string;
  /** github_secret: API base URL; "" means $GITHUB_API_URL or https://api.github.com. */
  apiUrl: string;
  /** Written after every successful apply too. */
  onApply: boolean;
  /** "file:line" of the sink, for errors. */
  location: string;
}

/** An HTTP health check: a request whose answer must have an accepted status (and body). */
export interface HttpCheck {
  kind: "http";
  /** As written: may carry credentials, so print it only through redactUrl. */
  url: string;
  method: "GET" | "HEAD";
  /** Accepted status codes; default 200-399 (redirects are not followed). */
  status: StatusRange[];
  /** A substring the body must contain; undefined when not checked. */
  body: string | undefined;
  /** A regular expression (JavaScript syntax) the body must match; undefined when not checked. */
  bodyMatch: string | undefined;
  /** Request headers; values may be secrets and are never printed. */
  headers: Record<string, string>;
  /** Skip TLS certificate verification. */
  insecureTls: boolean;
}

/** A TCP health check: passes when a connection opens. */
export interface TcpCheck {
  kind: "tcp";
  host: string;
  port: number;
}

export type HealthCheck = HttpCheck | TcpCheck;

/** One health-check target of `verify:`, resolved for the environment, defaults applied. */
export interface VerifyTarget {
  name: string;
  /** Position in `verify.targets` (for locating it in the file). */
  index: number;
  check: HealthCheck;
  /** Wait between the end of a failed attempt and the next. */
  intervalMs: number;
  /** Tries in all, the first included; undefined: until the verify timeout. */
  attempts: number | undefined;
  /** Limit of one attempt (connect, headers and body); cut shorter by the verify timeout. */
  attemptTimeoutMs: number;
}

/** The `verify:` section, resolved for the environment. */
export interface VerifyConfig {
  /** Deadline of the whole verify, all targets together. */
  timeoutMs: number;
  /** Targets enabled in this environment, in file order. */
  targets: VerifyTarget[];
  /** Names of targets disabled (null) in this environment. */
  disabled: string[];
}

/** Defaults of `verify:` settings. */
export const VERIFY_DEFAULTS = { timeoutMs: 60_000, intervalMs: 2_000, attemptTimeoutMs: 5_000 } as const;

/** The types an input variable may declare (docs/configuration.md#variables says what each accepts). */
export const VARIABLE_TYPES = ["string", "number", "bool", "list", "map"] as const;
export type VariableType = (typeof VARIABLE_TYPES)[number];

/** One rule of a variable's `validation:` list: every check it has must pass, else its message is the error. */
export interface VariableRule {
  /** A regular expression (JavaScript syntax) a string must match. */
  pattern: string | undefined;
  /** The values allowed (strings, numbers or bools). */
  allowed: JsonValue[] | undefined;
  /** Least number, or least length of a string, list or map. */
  min: number | undefined;
  /** Greatest number, or greatest length of a string, list or map. */
  max: number | undefined;
  message: string;
}

/** An input variable as `variables:` declares it. */
export interface VariableDeclaration {
  name: string;
  type: VariableType;
  /** undefined: the variable must be given a value. */
  default: JsonValue | undefined;
  description: string;
  /** Its value is masked wherever it goes (plans, outputs, errors) and sealed in state. */
  sensitive: boolean;
  validation: VariableRule[];
  /** "file:line" of its declaration, for errors. */
  location: string;
}

/** An input variable with the value an operation uses. */
export interface ResolvedVariable {
  name: string;
  value: JsonValue;
  sensitive: boolean;
  /** Where the value came from: "default", "WFCTL_VAR_<name>", "file:line" of a --var-file, or "--var". */
  source: string;
}

export interface InfraConfig {
  /** Absolute path of the file. */
  file: string;
  /** Its directory: relative paths in the config resolve against it. */
  dir: string;
  /** Environment name; "" when none was selected. */
  env: string;
  /** State namespace: the environment name or "default". */
  namespace: string;
  /** Locates paths of the file in errors (its positions: the YAML document stays in the worker that parsed it). */
  source: LocatedSource;
  state: StateModule;
  providers: Map<string, ProviderModule>;
  /** Enabled resources in file order. */
  resources: ResourceModule[];
  /** Declared outputs, in file order (empty when there is no `outputs:` section). */
  outputs: OutputDeclaration[];
  /** Health checks for `wfctl deploy verify`; undefined when there is no `verify:` section. */
  verify: VerifyConfig | undefined;
  /** The `moved:` entries that apply in this environment (their `to` module is enabled here). */
  moved: MovedEntry[];
  /** Declared input variables, in file order (empty when there is no `variables:` section). */
  variableDeclarations: VariableDeclaration[];
  /**
   * The variables' values for this operation, in declaration order; empty
   * until they are applied (config/variable-values.ts, applyVariables): only
   * then do module configurations hold values instead of `${var.NAME}`.
   */
  variables: ResolvedVariable[];
}

/** A `moved:` entry resolved for the environment: state's record `from` is resource `to` now. */
export interface MovedEntry {
  /** The record's old name, as state has it. */
  from: string;
  /** The resource's environment-resolved name. */
  to: string;
  /** Position in `moved:` (for locating it in the file). */
  index: number;
}

/**
 * The state namespace for an environment name. A namespace becomes a
 * directory or a key prefix of the state backend, so a name outside the name
 * rules (a path such as "../x") is refused here too, whoever asks.
 */
export function namespaceOf(env: string): string {
  const problem = environmentNameProblem(env);
  if (problem) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `the environment ${problem}`, { details: [{ field: "--env", message: problem }] });
  return env === "" ? "default" : env;
}

/** The embedded default state: files under `.wfctl/state` beside the config. */
export const DEFAULT_STATE_DIRECTORY = ".wfctl/state";
