// Which replaces create the new one before deleting the old one. A resource
// asks with `create_before_destroy: true`; as in Terraform, the replaced
// resources it depends on (transitively, as configured or as recorded) are
// then created before destroyed too: otherwise one of them would be deleted
// (after the old object of the resource depending on it, which goes last)
// before its replacement exists for the new object to use, an order that
// cannot be kept.
import { reachable } from "./graph.js";
import type { PlannedChange } from "./plan-model.js";

/** What `change` depends on, as configured and as its record says. */
function dependenciesOf(change: PlannedChange): string[] {
  return [...new Set([...change.dependsOn, ...(change.prior?.dependsOn ?? [])])];
}

/** `changes` with each replace that creates before it destroys marked, and why when it did not ask itself. */
export function withCreateBeforeDestroy(changes: readonly PlannedChange[]): PlannedChange[] {
  const byName = new Map(changes.map((c) => [c.name, c]));
  const asking = changes.filter((c) => c.action === "replace" && c.resource?.createBeforeDestroy === true).map((c) => c.name);
  if (asking.length === 0) return [...changes];
  const next = (name: string) => {
    const change = byName.get(name);
    return change ? dependenciesOf(change) : [];
  };
  const reachedFrom = new Map(asking.map((name) => [name, reachable([name], next)]));
  return changes.map((change) => {
    if (change.action !== "replace") return change;
    if (change.resource?.createBeforeDestroy === true) return { ...change, createBeforeDestroy: true };
    const by = asking.filter((name) => reachedFrom.get(name)?.has(change.name));
    if (by.length === 0) return change;
    const why = `created before destroyed: ${by.join(", ")} depend${by.length > 1 ? "" : "s"} on it and ${by.length > 1 ? "have" : "has"} create_before_destroy`;
    return { ...change, createBeforeDestroy: true, reason: change.reason ? `${change.reason}; ${why}` : why };
  });
}
