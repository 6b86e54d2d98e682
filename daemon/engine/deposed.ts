// Deposed records: while a create_before_destroy replace of X runs, the old
// object and the new one both exist, and state must describe both. One name
// has one record, so the old object's record is moved to a name of its own,
// `X~deposed-<8 hex>` (like Terraform's deposed objects), before the new one
// is created under X; it is deleted once what depends on X points to the new
// one. An apply stopped in between leaves the deposed record, which no
// configuration declares (`~` is not allowed in a module name): the next
// plan deletes it, after the resources depending on X are changed.
import { randomBytes } from "node:crypto";
import { type ResourceState, withFields } from "../../proto/state-store.js";
import type { PlannedChange } from "./plan-model.js";
import { sameResource } from "./renames.js";

const MARK = "~deposed-";

/** A fresh name for the deposed record of resource `name`. */
export function deposedName(name: string): string {
  return `${name}${MARK}${randomBytes(4).toString("hex")}`;
}

/** The resource a deposed record's name belongs to, or undefined when `id` is not one. */
export function deposedFrom(id: string): string | undefined {
  const at = id.lastIndexOf(MARK);
  return at > 0 && /^[0-9a-f]{8}$/.test(id.slice(at + MARK.length)) ? id.slice(0, at) : undefined;
}

/** The resource a record is about: its own name, or for a deposed record the name it was deposed from. */
export function resourceNameOf(id: string): string {
  return deposedFrom(id) ?? id;
}

/** `record` (X's, before it is replaced) under a deposed name. */
export function deposedRecord(record: ResourceState): ResourceState {
  return withFields(record, { resourceId: deposedName(record.resourceId), updatedAt: new Date().toISOString() });
}

/**
 * The planned delete of a deposed record, as the plan shows it. When it
 * describes the same object as the record of the resource it was deposed
 * from, as planned now (an apply stopped after the record was deposed, but
 * before a second object existed, or a provider whose create gave back the
 * old one), only the record is removed: deleting it would delete that
 * resource.
 */
export function deposedDelete(change: PlannedChange, planned: readonly PlannedChange[]): PlannedChange {
  const from = deposedFrom(change.name);
  if (from === undefined || change.action !== "delete" || !change.prior) return change;
  const live = planned.find((c) => c.name === from);
  const current = live?.refreshed ?? live?.prior;
  if (current && sameResource(current, change.prior)) {
    return { ...change, recordOnly: true, reason: `deposed from ${from}, but it is the object ${from} is now (same id ${current.providerId}): only this record is removed` };
  }
  return { ...change, reason: `deposed from ${from} by a create_before_destroy replace that did not finish: the old object is deleted now` };
}
