// Teardown as people read it: what would be destroyed and which state keys wiped.
import { Action, type Plan } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";

/** The preview shown by --dry-run and before the prompt. */
export function renderTeardownPreview(plan: Plan, stateKeys: readonly string[], backend: string, allowProtected: boolean): string {
  const deletes = plan.changes.filter((c) => c.action === Action.DELETE);
  const lines = [`Teardown of ${plan.env ? `environment "${plan.env}"` : "the default environment"}, state in ${backend}:`, ""];
  if (deletes.length === 0 && stateKeys.length === 0) {
    lines.push("Nothing to tear down: state records no resources.");
    return `${lines.join("\n")}\n`;
  }
  lines.push(`Resources to destroy (${deletes.length}):`);
  const width = Math.max(0, ...deletes.map((c) => c.name.length));
  for (const c of deletes) {
    const guard = c.protected ? (allowProtected ? "  [protected: allowed by --allow-protected-destroy]" : "  [protected: refused without --allow-protected-destroy]") : "";
    lines.push(`  - ${c.name.padEnd(width)}  ${c.type}${guard}`);
  }
  lines.push("", `State keys to wipe (${stateKeys.length}):`);
  for (const key of stateKeys) lines.push(`  - ${key}`);
  const blocked = deletes.filter((c) => c.protected);
  if (blocked.length > 0 && !allowProtected) {
    lines.push("", `Teardown would be refused: ${blocked.map((c) => c.name).join(", ")} ${blocked.length === 1 ? "is" : "are"} protected (set protected: false, or add --allow-protected-destroy).`);
  }
  return `${lines.join("\n")}\n`;
}
