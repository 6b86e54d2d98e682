// Drift as people and scripts read it: aligned GHOST / CONFIG / IN-SYNC rows
// (config drift followed by its fields), and how to recover; or JSON. And
// what a refresh did, or would do.
import { type AuditEntry, DriftClass, type DriftResult } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";

const labels: Record<DriftClass, string> = {
  [DriftClass.UNKNOWN]: "DRIFTED",
  [DriftClass.IN_SYNC]: "IN-SYNC",
  [DriftClass.GHOST]: "GHOST",
  [DriftClass.CONFIG]: "CONFIG",
};

const classNames: Record<DriftClass, string> = {
  [DriftClass.UNKNOWN]: "unknown",
  [DriftClass.IN_SYNC]: "in-sync",
  [DriftClass.GHOST]: "ghost",
  [DriftClass.CONFIG]: "config",
};

/** The label of a result: its class, or for unclassified results the plain drifted / not-drifted view. */
function label(r: DriftResult): string {
  if (r.class === DriftClass.UNKNOWN) return r.drifted ? "DRIFTED" : "IN-SYNC";
  return labels[r.class];
}

export function isDrifted(r: DriftResult): boolean {
  return r.class === DriftClass.GHOST || r.class === DriftClass.CONFIG || (r.class === DriftClass.UNKNOWN && r.drifted);
}

export function renderDrift(results: readonly DriftResult[]): string {
  if (results.length === 0) return "No resources in state: nothing to compare.\n";
  // Ghosts first, then config drift, then the rest: what needs attention on top.
  const order = (r: DriftResult) => (r.class === DriftClass.GHOST ? 0 : isDrifted(r) ? 1 : 2);
  const sorted = [...results].sort((a, b) => order(a) - order(b) || a.name.localeCompare(b.name));
  const w1 = Math.max(...sorted.map((r) => label(r).length));
  const w2 = Math.max(...sorted.map((r) => r.name.length));
  const lines: string[] = [];
  for (const r of sorted) {
    const unconfirmed = r.status === "pending" || r.status === "unknown" ? `  (recorded as ${r.status}: its last change was never confirmed)` : "";
    lines.push(`${label(r).padEnd(w1)}  ${r.name.padEnd(w2)}  ${r.type}${r.protected ? "  [protected]" : ""}${unconfirmed}`);
    for (const f of r.fields) lines.push(`${" ".repeat(w1 + 4)}${f.field}: expected=${f.expectedJson || "(absent)"} actual=${f.actualJson || "(absent)"}`);
  }
  const ghosts = results.filter((r) => r.class === DriftClass.GHOST).length;
  const config = results.filter((r) => r.class === DriftClass.CONFIG).length;
  const other = results.filter((r) => r.class === DriftClass.UNKNOWN && r.drifted).length;
  lines.push("");
  if (ghosts + config + other === 0) {
    lines.push(`No drift: all ${results.length} resource(s) in sync.`);
  } else {
    const counts = [ghosts && `${ghosts} ghost`, config && `${config} config`, other && `${other} drifted`].filter(Boolean).join(", ");
    lines.push(`Drift found: ${counts}.`);
    if (ghosts > 0) {
      lines.push("  Ghosts are in state but gone from the provider: `wfctl infra apply --refresh` prunes them from state (dry run first;");
      lines.push("  add --auto-approve to prune), then re-creates them; `wfctl infra refresh --auto-approve` only prunes them.");
    }
    if (config + other > 0) lines.push("  Config drift: a plain `wfctl infra apply` brings the resources back to the configuration.");
  }
  return `${lines.join("\n")}\n`;
}

export function driftJson(results: readonly DriftResult[]): Record<string, unknown> {
  return {
    results: results.map((r) => ({
      name: r.name,
      type: r.type,
      // "unknown" is the zero value: omitted.
      class: r.class === DriftClass.UNKNOWN ? undefined : classNames[r.class],
      drifted: isDrifted(r),
      protected: r.protected,
      ...(r.status && r.status !== "active" ? { status: r.status } : {}),
      fields: r.fields.map((f) => ({
        field: f.field,
        expected: f.expectedJson ? (JSON.parse(f.expectedJson) as unknown) : null,
        actual: f.actualJson ? (JSON.parse(f.actualJson) as unknown) : null,
        ...(f.sensitive ? { sensitive: true } : {}),
      })),
    })),
  };
}

/** One audit line, as written to stderr. */
export function auditLine(a: AuditEntry): string {
  return `${a.time} AUDIT ${a.action} operation="${a.operation}" resource=${a.resource} type=${a.type} environment=${a.environment || "(none)"} caller=${a.caller} operation_id=${a.operationId}\n`;
}

/** What refresh did (or, in a dry run, would do). */
export function renderRefresh(result: {
  dryRun: boolean;
  pruned: readonly AuditEntry[];
  updated: readonly DriftResult[];
  blocked: readonly DriftResult[];
  drift: readonly DriftResult[];
}): string {
  const lines: string[] = [];
  if (result.blocked.length > 0) {
    // The refresh would be refused as a whole: no ghost would be pruned, no record updated.
    for (const g of result.drift.filter((r) => r.class === DriftClass.GHOST)) lines.push(`would NOT prune ${g.name} (${g.type})${g.protected ? " [protected]" : ""}`);
    for (const u of result.updated) lines.push(`would NOT update ${u.name} (${u.type})`);
    lines.push(`Refresh would be refused: protected ghost(s) ${result.blocked.map((b) => b.name).join(", ")} need --allow-protected-prune.`);
  } else {
    for (const p of result.pruned) lines.push(`${result.dryRun ? "would prune" : "pruned"} ${p.resource} (${p.type}): gone from the provider`);
    for (const u of result.updated) {
      lines.push(`${result.dryRun ? "would update" : "updated"} ${u.name} (${u.type}) from what the provider reads:`);
      for (const f of u.fields) lines.push(`    ${f.field}: recorded=${f.expectedJson || "(absent)"} read=${f.actualJson || "(absent)"}`);
    }
    if (lines.length === 0) {
      lines.push(`State matches what the providers read: nothing ${result.dryRun ? "would change" : "changed"} (${result.drift.length} resource(s) checked).`);
    }
  }
  if (result.dryRun) lines.push("Dry run: nothing was changed. Run again with --auto-approve to update state.");
  else lines.push("No resource was changed; run `wfctl infra plan` to see what an apply would do now.");
  return `${lines.join("\n")}\n`;
}
