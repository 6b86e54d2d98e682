// Resolving a checked configuration for one environment: the environment's
// name checked, every module's overrides applied, then the rules that span
// modules (state, providers and resources, outputs, health checks, cycles).
// Every problem is collected and reported at once, in file order.
import { dirname } from "node:path";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { environmentNameProblem } from "../../proto/names.js";
import { findCycle } from "../engine/graph.js";
import { resolveForEnvironment } from "./environments.js";
import { type InfraConfig, type ResourceModule, namespaceOf } from "./model.js";
import { resolveOutputs } from "./outputs.js";
import { type CheckedOutput, type CheckedVariables, type Entry, type Resolution, isCore, problemAt } from "./resolution.js";
import { resolveProviders, resolveResources } from "./resources.js";
import { PROVIDER_MODULE, RESOURCE_TYPE, type RawModule, STATE_MODULE } from "./schema.js";
import { type SourceFile, throwIfProblems } from "./source.js";
import { resolveStateModule } from "./state-module.js";
import { checkVariableUses } from "./variables.js";
import { type CheckedVerify, resolveVerify, verifyEnvironments } from "./verify.js";

/**
 * An environment the configuration never mentions is most likely a typo: it
 * would resolve to the base configuration in a new, empty namespace and plan
 * to create everything again. Refused when the file names any.
 */
function checkEnvironmentName(file: string, modules: readonly (RawModule | undefined)[], verify: CheckedVerify | undefined, env: string): void {
  if (env === "") return;
  const problem = environmentNameProblem(env);
  if (problem) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `--env ${problem}`, { details: [{ field: "--env", message: problem }] });
  const known = new Set([...modules.flatMap((m) => Object.keys(m?.environments ?? {})), ...verifyEnvironments(verify)]);
  if (known.size === 0 || known.has(env)) return;
  throw new WfctlError(
    ErrorCode.INVALID_ARGUMENT,
    `--env "${env}": ${file} mentions no environment of that name (it mentions: ${[...known].sort().join(", ")}). ` +
      `If "${env}" is a new environment, declare it under a module's environments (an empty entry will do, e.g. on the iac.state module: environments: { ${env}: {} })`,
    { details: [{ file, field: "--env", message: `unknown environment "${env}"` }] },
  );
}

/** Every module resolved for the environment: which are enabled (and under which name), disabled, or invalid. */
function resolveModules(source: SourceFile, modules: readonly (RawModule | undefined)[], env: string, problems: ErrorDetail[]): Resolution {
  const rawModules = (source.value() as { modules: ({ name?: unknown } | null)[] }).modules;
  const r: Resolution = { source, env, modules, enabled: [], byBase: new Map(), disabled: new Set(), invalid: new Set(), problems };
  const firstIndex = new Map<string, number>();
  modules.forEach((raw, index) => {
    const name = rawModules[index]?.name;
    if (!raw) {
      if (typeof name === "string") r.invalid.add(name);
      return;
    }
    const first = firstIndex.get(raw.name);
    if (first !== undefined) problemAt(r, index, ["name"], raw.name, `duplicate module name (also module #${first + 1})`, "name");
    else firstIndex.set(raw.name, index);
    const view = resolveForEnvironment(raw, env);
    if (!view) {
      r.disabled.add(raw.name);
      return;
    }
    const entry: Entry = { index, base: raw.name, raw, view };
    r.enabled.push(entry);
    if (first === undefined) r.byBase.set(raw.name, entry);
  });
  const resolvedNames = new Map<string, Entry>();
  for (const entry of r.enabled) {
    const other = resolvedNames.get(entry.view.name);
    if (other && other.base !== entry.base) {
      problemAt(r, entry.index, ["name"], entry.base, `resolves to name "${entry.view.name}" in environment "${env}", which module "${other.base}" also uses`, "name");
    }
    resolvedNames.set(entry.view.name, entry);
  }
  return r;
}

/** Module types, and keys only resource modules take. */
function checkModuleTypes(r: Resolution): void {
  for (const { index, base, raw, view } of r.enabled) {
    if (!isCore(view.type) && (view.type.startsWith("iac.") || !RESOURCE_TYPE.test(view.type))) {
      problemAt(r, index, ["type"], base, `unknown module type "${view.type}" (expected ${STATE_MODULE}, ${PROVIDER_MODULE}, or a resource type such as local.file)`, "type");
    }
    if (isCore(view.type)) {
      for (const key of ["provider", "depends_on", "protected", "create_before_destroy"] as const) {
        if (raw[key] !== undefined) problemAt(r, index, [key], base, `only resource modules take "${key}" (this is an ${view.type} module)`, key);
      }
    }
  }
}

/** A dependency cycle among the resources, reported at its first module (checked only when nothing else is wrong). */
function checkCycle(r: Resolution, resources: readonly ResourceModule[]): void {
  const cycle = findCycle(resources);
  if (!cycle) return;
  const first = resources.find((res) => res.name === cycle[0]);
  const names = cycle.map((n) => resources.find((res) => res.name === n)?.baseName ?? n);
  problemAt(r, first?.index ?? 0, ["depends_on"], first?.baseName ?? "", `dependency cycle: ${names.join(" → ")}`, "depends_on");
}

/** The configuration for environment `env`, or CONFIG_INVALID listing every problem (those found so far included). */
export function resolveConfig(
  source: SourceFile,
  modules: readonly (RawModule | undefined)[],
  rawOutputs: ReadonlyMap<string, CheckedOutput>,
  rawVerify: CheckedVerify | undefined,
  variables: CheckedVariables,
  env: string,
  problems: ErrorDetail[],
): Omit<InfraConfig, "moved"> {
  const file = source.file;
  checkEnvironmentName(file, modules, rawVerify, env);
  const r = resolveModules(source, modules, env, problems);
  checkModuleTypes(r);
  const state = resolveStateModule(r);
  const providers = resolveProviders(r);
  const resources = resolveResources(r, providers);
  const outputs = resolveOutputs(r, rawOutputs);
  checkVariableUses(r, new Set(variables.declarations.map((v) => v.name)), variables.invalid);
  // Health checks for `wfctl deploy verify`.
  const verify = rawVerify && resolveVerify(source, rawVerify, env, problems);
  if (problems.length === 0) checkCycle(r, resources);
  throwIfProblems(file, [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)));
  return {
    file,
    dir: dirname(file),
    env,
    namespace: namespaceOf(env),
    source,
    state,
    providers: new Map([...providers.values()].map((p) => [p.name, p])),
    resources,
    outputs,
    verify,
    variableDeclarations: variables.declarations,
    variables: [],
  };
}
