// Part of a stack: --target (plan only the resources named and what they
// depend on; for a destroy, what depends on them) and --replace (replace a
// resource even where nothing changed), as Terraform's -target and -replace.
// Names are checked against the configuration and state before any provider
// is called: an unknown one is an error naming the flag.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { ResourceState } from "../../proto/state-store.js";
import type { InfraConfig } from "../config/model.js";
import { reachable } from "./graph.js";
import { deposedFrom } from "./deposed.js";
import type { PlannedChange } from "./plan-model.js";

/** What part of the stack a plan covers, and what it must replace. */
export interface PlanScope {
  /** --target NAME, as given; empty: the whole stack. */
  targets: readonly string[];
  /** --replace NAME, as given. */
  replace: readonly string[];
}

/** The resources a scoped plan covers. */
export interface ScopeSelection {
  /** Configured resources to plan; undefined: all. */
  resources: ReadonlySet<string> | undefined;
  /** Records no longer configured whose delete is planned; undefined: all of them. */
  records: ReadonlySet<string> | undefined;
  warnings: string[];
}

export const REPLACE_REASON = "replace requested with --replace";

function unknownName(flag: string, name: string, config: InfraConfig, where: string): WfctlError {
  const env = config.env ? ` for environment "${config.env}"` : "";
  const message = `${flag} "${name}": no resource of that name ${where.replace("{file}", `${config.file}${env}`)}`;
  return new WfctlError(ErrorCode.INVALID_ARGUMENT, message, { details: [{ field: flag, message }] });
}

function sortedList(names: Iterable<string>): string {
  return [...names].sort().join(", ");
}

/**
 * The resources `scope.targets` selects: for an apply, each configured target
 * and what it depends on (depends_on and references), and each target only
 * state still holds (its delete); for a destroy, each recorded target and the
 * records that depend on it. Also checks `scope.replace`.
 */
export function selectScope(config: InfraConfig, priors: readonly ResourceState[], scope: PlanScope, destroy: boolean): ScopeSelection {
  const configured = new Map(config.resources.map((r) => [r.name, r]));
  const recorded = new Map(priors.map((p) => [p.resourceId, p]));
  if (destroy && scope.replace.length > 0) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "--replace does not apply to a destroy: a destroy deletes, it replaces nothing", { details: [{ field: "--replace", message: "not with a destroy" }] });
  }
  let selection: ScopeSelection = { resources: undefined, records: undefined, warnings: [] };
  if (scope.targets.length > 0) {
    for (const name of scope.targets) {
      if (!configured.has(name) && !recorded.has(name)) throw unknownName("--target", name, config, "in {file} or in state");
    }
    selection = destroy ? destroySelection(scope.targets, priors) : applySelection(scope.targets, configured, recorded);
  }
  for (const name of scope.replace) {
    if (!configured.has(name)) {
      throw recorded.has(name)
        ? new WfctlError(ErrorCode.INVALID_ARGUMENT, `--replace "${name}": it is no longer in ${config.file}, so the plan deletes it; there is nothing to replace it with`, {
            details: [{ field: "--replace", message: `"${name}" is not configured` }],
          })
        : unknownName("--replace", name, config, "in {file}");
    }
    if (selection.resources && !selection.resources.has(name)) {
      throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `--replace "${name}": it is outside what --target selects (${sortedList(selection.resources)})`, {
        details: [{ field: "--replace", message: `"${name}" is not targeted` }],
      });
    }
  }
  return selection;
}

function applySelection(targets: readonly string[], configured: ReadonlyMap<string, { dependsOn: readonly string[] }>, recorded: ReadonlyMap<string, ResourceState>): ScopeSelection {
  const resources = reachable(
    targets.filter((t) => configured.has(t)),
    (name) => (configured.get(name)?.dependsOn ?? []).filter((d) => configured.has(d)),
  );
  const records = new Set(targets.filter((t) => !configured.has(t) && recorded.has(t)));
  // The old objects of a create_before_destroy replace that did not finish go with their resource.
  for (const id of recorded.keys()) if (resources.has(deposedFrom(id) ?? "")) records.add(id);
  const added = [...resources].filter((n) => !targets.includes(n));
  const warning =
    `partial plan: --target ${targets.join(", ")} covers only ${targets.length > 1 ? "them" : "it"}` +
    `${added.length > 0 ? ` and what ${targets.length > 1 ? "they depend" : "it depends"} on (${sortedList(added)})` : ""}; nothing else in the configuration or state was compared, or will be changed. ` +
    "Plan without --target to see every change";
  return { resources, records, warnings: [warning] };
}

function destroySelection(targets: readonly string[], priors: readonly ResourceState[]): ScopeSelection {
  const dependents = (name: string) => priors.filter((p) => p.dependsOn.includes(name)).map((p) => p.resourceId);
  const reached = reachable(
    targets.filter((t) => priors.some((p) => p.resourceId === t)),
    dependents,
  );
  // The old objects of a create_before_destroy replace that did not finish go with their resource.
  const records = new Set([...reached, ...priors.map((p) => p.resourceId).filter((id) => reached.has(deposedFrom(id) ?? ""))]);
  const added = [...reached].filter((n) => !targets.includes(n));
  const warning =
    `partial destroy: --target ${targets.join(", ")} covers only ${records.size > 0 ? (targets.length > 1 ? "them" : "it") : "nothing recorded in state"}` +
    `${added.length > 0 ? ` and what depends on ${targets.length > 1 ? "them" : "it"} (${sortedList(added)})` : ""}; every other resource is left as it is`;
  return { resources: new Set(), records, warnings: [warning] };
}

/**
 * `change` replaced as --replace asks. Only what exists can be replaced: a
 * resource state does not record is created anyway, and a ghost (gone from
 * its provider) is left to `apply --refresh`; both are said in `warnings`.
 */
export function forceReplace(change: PlannedChange, warnings: string[]): PlannedChange {
  if (change.ghost) {
    warnings.push(`--replace "${change.name}": its provider says it is gone (a ghost); run \`wfctl infra apply --refresh\` to prune its record and create it again`);
    return change;
  }
  if (change.action === "create") {
    warnings.push(`--replace "${change.name}": it does not exist yet, so it is simply created`);
    return change;
  }
  return { ...change, action: "replace", reason: REPLACE_REASON, refreshed: undefined };
}
