// The modules of a configuration as one environment sees them, while the
// configuration is being resolved: which are enabled and under which name,
// which are disabled, which the schema refused, and where each problem goes.
// Shared by the resolution steps (state, providers and resources, outputs);
// it imports none of them.
import type { ErrorDetail } from "../../proto/errors.js";
import type { EnvironmentView } from "./environments.js";
import type { VariableDeclaration } from "./model.js";
import { PROVIDER_MODULE, type RawModule, type RawOutput, type RawSink, STATE_MODULE } from "./schema.js";
import type { SourceFile, YamlPath } from "./source.js";

/** A module enabled in the environment: where it is, its name as written, and its resolved view. */
export interface Entry {
  index: number;
  /** The name as written. */
  base: string;
  raw: RawModule;
  view: EnvironmentView;
}

/** An output as the schema checked it, its sinks each checked against their type's schema. */
export type CheckedOutput = Omit<RawOutput, "sinks"> & { sinks: { sink: RawSink; index: number }[] };

/** The `variables:` section as checked: the valid declarations, and the names of those refused (uses of them are not reported again). */
export interface CheckedVariables {
  declarations: VariableDeclaration[];
  invalid: Set<string>;
}

/** Everything a resolution step reads, and the list of problems every step adds to. */
export interface Resolution {
  source: SourceFile;
  /** The environment ("" for none). */
  env: string;
  /** The modules as written, in file order; undefined where the schema refused one. */
  modules: readonly (RawModule | undefined)[];
  /** Enabled modules in file order (duplicates included, to be reported). */
  enabled: Entry[];
  /** The first enabled module of each name as written. */
  byBase: Map<string, Entry>;
  /** Names (as written) of modules disabled (null) in this environment. */
  disabled: Set<string>;
  /** Names of modules that failed the schema: they exist, so references to them are not reported again. */
  invalid: Set<string>;
  problems: ErrorDetail[];
}

/** True for the module types wfctl itself handles (state and provider modules). */
export function isCore(type: string): boolean {
  return type === STATE_MODULE || type === PROVIDER_MODULE;
}

/** Records a problem at `path` inside module #`index`. */
export function problemAt(r: Resolution, index: number, path: YamlPath, module: string, message: string, field?: string): void {
  r.problems.push(r.source.detail(["modules", index, ...path], message, module, field));
}

/** Why a module named `base` cannot be referred to here. */
export function whyMissing(r: Resolution, base: string): string {
  return r.disabled.has(base) ? `is disabled in environment "${r.env}"` : "does not exist";
}
