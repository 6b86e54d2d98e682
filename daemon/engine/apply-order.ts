// The order of an apply's changes, as steps for the scheduler. A create or
// an update waits for what it depends on to be created or updated; a delete
// waits until what depends on it (as recorded) and is deleted too is gone. A
// replace is two steps, delete and create, ordered as Terraform orders them:
//   - by default the old one is deleted first, once what depends on it and
//     is replaced or deleted too is gone, then the new one is created, before
//     what depends on it is created or updated;
//   - with create_before_destroy the new one is created first, what depends
//     on it is created, updated or replaced against it, and the old one
//     (kept as a deposed record meanwhile: deposed.ts) is deleted last.
// The deletion of a deposed record an earlier apply left waits in the same
// way, as the old object of its resource. Each step records what it did as
// it ends (changes.ts, replace.ts), so state describes what exists between
// any two.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { deposedFrom } from "./deposed.js";
import { findCycle } from "./graph.js";
import type { PlannedChange } from "./plan-model.js";

/** What a step does: a whole change, or one half of a replace. */
export type StepPart = "whole" | "delete" | "create";

/** One task of an apply. */
export interface ApplyStep {
  /** Unique among the steps: the change's name, or for a replace's steps the name with the part. */
  id: string;
  change: PlannedChange;
  part: StepPart;
  /** Whether it ends its change: its success is the change's. */
  last: boolean;
  /** Ids of the steps that must succeed first (some may not be in the graph: they are ignored). */
  after: string[];
}

/** The id of `name`'s step doing `part`. */
function stepId(name: string, part: StepPart): string {
  return part === "whole" ? name : `${name} (${part})`;
}

/** What the existing object of a change depends on: as recorded. */
function recordedDependencies(change: PlannedChange): readonly string[] {
  return change.action === "delete" ? change.dependsOn : (change.prior?.dependsOn ?? []);
}

/** The resource whose object a change deletes, if it deletes one: its own, or for a deposed record its resource's old one. */
function deletedResource(change: PlannedChange): string | undefined {
  if (change.action === "replace") return change.name;
  if (change.action === "delete") return deposedFrom(change.name) ?? change.name;
  return undefined;
}

/**
 * The steps of `changes` (none a noop), with what each waits for. Throws
 * FAILED_PRECONDITION, naming them, when the changes cannot be ordered
 * (before anything is done).
 */
export function applySteps(changes: readonly PlannedChange[]): ApplyStep[] {
  const byName = new Map(changes.map((c) => [c.name, c]));
  /** The step that makes resource `name` exist as configured (create, update, the create of a replace). */
  const made = (name: string): string[] => {
    const change = byName.get(name);
    if (!change || change.action === "delete") return [];
    return [stepId(name, change.action === "replace" ? "create" : "whole")];
  };
  // Who depends on each resource, indexed once: looking it up per change would cost every change a pass over all of them.
  const deletions = new Map<string, string[]>();
  const dependents = new Map<string, PlannedChange[]>();
  const add = <T>(index: Map<string, T[]>, key: string, value: T) => {
    const list = index.get(key);
    if (list) list.push(value);
    else index.set(key, [value]);
  };
  for (const c of changes) {
    const deleted = deletedResource(c);
    if (deleted !== undefined) {
      const step = stepId(c.name, c.action === "replace" ? "delete" : "whole");
      for (const resource of new Set(recordedDependencies(c))) if (resource !== deleted) add(deletions, resource, step);
    }
    for (const resource of new Set(c.dependsOn)) if (resource !== c.name) add(dependents, resource, c);
  }
  /** Deletions that must come before the deletion of an object of `resource`: those of what depends on it, as recorded. */
  const deletedFirst = (resource: string): string[] => deletions.get(resource) ?? [];
  /** The changes of what depends on `resource` as configured: they are pointed to its new object before its old one goes. */
  const pointedFirst = (resource: string): string[] => (dependents.get(resource) ?? []).flatMap((c) => made(c.name));
  const dependencies = (change: PlannedChange) => change.dependsOn.flatMap(made);

  const steps: ApplyStep[] = [];
  for (const change of changes) {
    const { name } = change;
    if (change.action === "create" || change.action === "update") {
      steps.push({ id: name, change, part: "whole", last: true, after: dependencies(change) });
    } else if (change.action === "delete") {
      const from = deposedFrom(name);
      // The old object of a replace: once its resource's new one exists and what depends on it is pointed there.
      const deposed = from === undefined ? [] : [...made(from), ...pointedFirst(from)];
      steps.push({ id: name, change, part: "whole", last: true, after: [...deletedFirst(from ?? name), ...deposed] });
    } else if (change.action === "replace" && change.createBeforeDestroy) {
      const create = stepId(name, "create");
      steps.push({ id: create, change, part: "create", last: false, after: dependencies(change) });
      steps.push({ id: stepId(name, "delete"), change, part: "delete", last: true, after: [create, ...pointedFirst(name), ...deletedFirst(name)] });
    } else if (change.action === "replace") {
      const remove = stepId(name, "delete");
      steps.push({ id: remove, change, part: "delete", last: false, after: deletedFirst(name) });
      steps.push({ id: stepId(name, "create"), change, part: "create", last: true, after: [remove, ...dependencies(change)] });
    }
  }
  const ids = new Set(steps.map((s) => s.id));
  const cycle = findCycle(steps.map((s) => ({ name: s.id, dependsOn: s.after.filter((a) => ids.has(a)) })));
  if (cycle) {
    throw new WfctlError(
      ErrorCode.FAILED_PRECONDITION,
      `the changes cannot be ordered: ${cycle.join(" → ")} wait on each other; nothing was changed. ` +
        "Set create_before_destroy on the replaced resources of that cycle (or on none of them), or apply the change in two steps",
    );
  }
  return steps;
}
