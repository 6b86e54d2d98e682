// Plans and apply results, for people (Terraform-like text) and for
// machines (--json).
import { Action, Outcome, type Plan, type ResourceResult, type UnrecordedChange } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";

const SYMBOL: Record<number, string> = {
  [Action.CREATE]: "+",
  [Action.UPDATE]: "~",
  [Action.REPLACE]: "-/+",
  [Action.DELETE]: "-",
  [Action.NOOP]: " ",
};

/** Lower-case action names used in text and JSON. */
export function actionName(action: Action): string {
  return (Action[action] ?? "unspecified").toLowerCase();
}

function outcomeName(outcome: Outcome): string {
  return (Outcome[outcome] ?? "unspecified").toLowerCase();
}

const show = (json: string): string => (json === "" ? "(none)" : json);

function parseOrNull(json: string): unknown {
  return json === "" ? null : (JSON.parse(json) as unknown);
}

/** Resources state records that their provider says are gone: no plain apply changes them. */
export function ghostsOf(plan: Plan | undefined): string[] {
  return (plan?.changes ?? []).filter((c) => c.ghost).map((c) => c.name);
}

/** A warning block for ghosts, or "". */
function ghostWarning(plan: Plan): string {
  const ghosts = plan.changes.filter((c) => c.ghost);
  if (ghosts.length === 0) return "";
  const width = Math.max(...ghosts.map((c) => c.name.length));
  const lines = ["", `Warning: ${ghosts.length} resource(s) in state are gone from their provider (ghosts); this plan leaves them alone:`];
  for (const g of ghosts) lines.push(`  !   ${g.name.padEnd(width)}  ${g.type}${g.protected ? "  [protected]" : ""}`);
  lines.push("Run `wfctl infra apply --refresh` (a dry run first) to prune them from state and re-create them; see docs/drift-recovery.md.");
  return `${lines.join("\n")}\n`;
}

/** Unchanged resources whose unconfirmed records the plan read and found: apply confirms them. */
function confirmedNote(plan: Plan): string {
  const found = plan.changes.filter((c) => c.action === Action.NOOP && c.recordedNote);
  if (found.length === 0) return "";
  return `${found.map((c) => `  ${c.name}  ${c.type}: ${c.recordedNote}`).join("\n")}\nApply records them as they are.\n`;
}

/** " N record(s) to rename (moved:)." when the plan renames any, else "". */
function movedCount(plan: Plan): string {
  const moved = plan.changes.filter((c) => c.movedFrom).length;
  return moved > 0 ? ` ${moved} record(s) to rename (moved:).` : "";
}

/** The plan's own warnings (a partial plan: --target), one line each, or "". */
function planWarnings(plan: Plan): string {
  return plan.warnings.map((w) => `\nWarning: ${w}\n`).join("");
}

/** The plan as text: one block per change, then the summary line, then any ghosts and warnings. */
export function renderPlan(plan: Plan): string {
  return renderChanges(plan) + planWarnings(plan);
}

function renderChanges(plan: Plan): string {
  // A record a `moved:` entry renames is shown even when nothing else about it changes.
  const changes = plan.changes.filter((c) => c.action !== Action.NOOP || c.movedFrom);
  const envNote = plan.env ? ` (environment: ${plan.env})` : "";
  if (changes.length === 0) {
    const ghosts = ghostWarning(plan);
    const adopted = confirmedNote(plan);
    return ghosts
      ? `No changes planned${envNote}, but state does not match what exists.\n${adopted}${ghosts}`
      : `No changes${envNote}. The infrastructure matches the configuration.\n${adopted}`;
  }
  const width = Math.max(...changes.map((c) => c.name.length));
  const lines = [`wfctl will perform these actions${envNote}:`, ""];
  for (const change of changes) {
    const symbol = change.createBeforeDestroy ? "+/-" : (SYMBOL[change.action] ?? "?");
    const note =
      (change.action === Action.REPLACE ? (change.createBeforeDestroy ? "  (replace, create before destroy)" : "  (replace)") : change.action === Action.DELETE && !plan.destroy ? "  (no longer in configuration)" : "") +
      (change.movedFrom ? `  (moved from ${change.movedFrom})` : "");
    lines.push(`  ${(change.action === Action.NOOP ? "->" : symbol).padEnd(3)} ${change.name.padEnd(width)}  ${change.type}${change.protected ? "  [protected]" : ""}${note}`);
    if (change.recordedNote) lines.push(`        # ${change.recordedNote}`);
    if (change.reason) lines.push(`        # ${change.reason}`);
    for (const field of change.fields) {
      const arrow = change.action === Action.CREATE ? `${show(field.afterJson)}` : `${show(field.beforeJson)} → ${show(field.afterJson)}`;
      lines.push(`        ${field.field}: ${arrow}${field.forcesReplace ? "   # forces replacement" : ""}`);
    }
  }
  const s = plan.summary;
  lines.push(
    "",
    plan.destroy
      ? `Plan: ${s?.delete ?? 0} to destroy.`
      : `Plan: ${s?.create ?? 0} to create, ${s?.update ?? 0} to update, ${s?.replace ?? 0} to replace, ${s?.delete ?? 0} to delete.${movedCount(plan)}`,
  );
  return `${lines.join("\n")}\n${ghostWarning(plan)}`;
}

/** A plan for --json: where its state is, then what it changes. */
export function planJson(plan: Plan): Record<string, unknown> {
  return {
    backend: plan.backend,
    namespace: plan.namespace,
    env: plan.env,
    destroy: plan.destroy,
    fingerprint: plan.fingerprint,
    ...(plan.targets.length > 0 ? { targets: plan.targets } : {}),
    warnings: plan.warnings,
    changes: plan.changes.map((c) => ({
      name: c.name,
      type: c.type,
      provider: c.provider,
      action: actionName(c.action),
      protected: c.protected,
      ...(c.ghost ? { ghost: true } : {}),
      ...(c.recordedStatus ? { recorded_status: c.recordedStatus, recorded_note: c.recordedNote } : {}),
      ...(c.movedFrom ? { moved_from: c.movedFrom } : {}),
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.createBeforeDestroy ? { create_before_destroy: true } : {}),
      depends_on: c.dependsOn,
      fields: c.fields.map((f) => ({
        field: f.field,
        before: parseOrNull(f.beforeJson),
        after: parseOrNull(f.afterJson),
        forces_replace: f.forcesReplace,
        sensitive: f.sensitive,
      })),
    })),
    summary: {
      create: plan.summary?.create ?? 0,
      update: plan.summary?.update ?? 0,
      replace: plan.summary?.replace ?? 0,
      delete: plan.summary?.delete ?? 0,
      noop: plan.summary?.noop ?? 0,
    },
  };
}

const PAST: Record<number, string> = {
  [Action.CREATE]: "created",
  [Action.UPDATE]: "updated",
  [Action.REPLACE]: "replaced",
  [Action.DELETE]: "deleted",
};

/** One line per resource change, then a summary. */
export function renderResults(results: readonly ResourceResult[], destroy: boolean): string {
  if (results.length === 0) return destroy ? "Nothing to destroy.\n" : "No changes applied: the infrastructure matches the configuration.\n";
  const width = Math.max(...results.map((r) => r.name.length));
  const lines: string[] = [];
  for (const r of results) {
    const head = `  ${r.name.padEnd(width)}  ${r.type}`;
    if (r.outcome === Outcome.SUCCEEDED) lines.push(`${head}: ${PAST[r.action] ?? actionName(r.action)} (${Math.round(r.elapsedMs)} ms)`);
    else if (r.outcome === Outcome.FAILED) lines.push(`${head}: FAILED to ${actionName(r.action)}: ${r.error}`);
    else lines.push(`${head}: skipped (${actionName(r.action)} not attempted${r.skippedReason ? `: ${r.skippedReason}` : ""})`);
  }
  const count = (o: Outcome, a?: Action) => results.filter((r) => r.outcome === o && (a === undefined || r.action === a)).length;
  const failed = count(Outcome.FAILED);
  const skipped = count(Outcome.SKIPPED);
  const done = destroy
    ? `${count(Outcome.SUCCEEDED)} destroyed`
    : `${count(Outcome.SUCCEEDED, Action.CREATE)} created, ${count(Outcome.SUCCEEDED, Action.UPDATE)} updated, ${count(Outcome.SUCCEEDED, Action.REPLACE)} replaced, ${count(Outcome.SUCCEEDED, Action.DELETE)} deleted`;
  lines.push("", failed + skipped > 0 ? `${destroy ? "Destroy" : "Apply"} incomplete: ${done}; ${failed} failed, ${skipped} skipped.` : `${destroy ? "Destroy" : "Apply"} complete: ${done}.`);
  return `${lines.join("\n")}\n`;
}

/** Changes made whose results state could not record, for --json. */
export function unrecordedJson(unrecorded: readonly UnrecordedChange[]): Record<string, unknown>[] {
  return unrecorded.map((u) => ({ name: u.name, type: u.type, action: u.action, provider_id: u.providerId, recorded_as: u.recordedAs, error: u.error }));
}

export function resultsJson(results: readonly ResourceResult[]): Record<string, unknown>[] {
  return results.map((r) => ({
    name: r.name,
    type: r.type,
    action: actionName(r.action),
    outcome: outcomeName(r.outcome),
    error: r.error || undefined,
    error_code: r.errorCode || undefined,
    elapsed_ms: Math.round(r.elapsedMs),
    skipped_reason: r.skippedReason || undefined,
  }));
}
