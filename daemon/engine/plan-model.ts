// What a plan is: one planned change per resource, what would change in its
// fields, and a fingerprint an approval is checked against.
import type { FieldDifference } from "../../proto/fields.js";
import type { ResourceState } from "../../proto/state-store.js";
import type { ResourceModule } from "../config/model.js";

export type ChangeAction = "noop" | "create" | "update" | "replace" | "delete";

export interface PlannedChange {
  name: string;
  type: string;
  /** The iac.provider module that manages it. */
  provider: string;
  action: ChangeAction;
  fields: FieldDifference[];
  /** For create/update/replace: from the configuration; for delete: from state. */
  dependsOn: string[];
  protected: boolean;
  /** The configuration to apply (absent for a delete). */
  resource: ResourceModule | undefined;
  /** What state records (absent for a create). */
  prior: ResourceState | undefined;
  /**
   * State records it but its provider says it is gone. Planned as no change:
   * pruning the record (then re-creating) is `apply --refresh`'s job.
   */
  ghost: boolean;
  /**
   * For an unchanged resource: its record as it should now be (what the
   * provider read, the configuration's protected and depends_on), when that
   * differs from what state holds. Apply saves it, as Terraform persists a
   * refresh; plan does not.
   */
  refreshed: ResourceState | undefined;
  /** A delete of an unconfirmed record whose resource was not found: only the record goes. */
  recordOnly: boolean;
  /** For a record whose outcome was never confirmed (pending, unknown): its status, and what the plan decided. */
  recorded: { status: string; note: string } | undefined;
  /**
   * Top-level fields of its configuration that hold a sensitive value
   * through a ${} reference (wholly or in part): masked in the plan and
   * sealed in its record, as if its provider's schema marked them sensitive.
   */
  sensitiveFields: string[];
  /** The record's old name, when a `moved:` entry renames it in this plan (apply renames it first: moves.ts). */
  movedFrom?: string;
  /** Why the action was chosen when the fields do not say (e.g. "replace requested with --replace"). */
  reason?: string;
  /**
   * For a replace: the new one is created first and the old one deleted last
   * (kept meanwhile as a deposed record: deposed.ts), as its own
   * create_before_destroy, or that of a resource depending on it, asks
   * (create-before-destroy.ts). Else the old one is deleted first.
   */
  createBeforeDestroy?: boolean;
}

export interface Plan {
  env: string;
  destroy: boolean;
  changes: PlannedChange[];
  /** Hash of what would change; an approved plan must still match it at apply time. */
  fingerprint: string;
  /** --target: the resources named (the plan covers them and what they depend on); empty for the whole stack. */
  targets: string[];
  /** Things the reader must see with the plan (that it is partial, a --replace that changed nothing). */
  warnings: string[];
  /** The state records the plan was made against, as read (a saved plan records them, to refuse a stale one). */
  priors: readonly ResourceState[];
}

export type PlanSummary = Record<ChangeAction, number>;

export function summarize(plan: Plan): PlanSummary {
  const summary: PlanSummary = { create: 0, update: 0, replace: 0, delete: 0, noop: 0 };
  for (const change of plan.changes) summary[change.action]++;
  return summary;
}

export function hasChanges(plan: Plan): boolean {
  return plan.changes.some((c) => c.action !== "noop" || c.movedFrom !== undefined);
}

