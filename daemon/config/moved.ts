// The `moved:` section: state records renamed declaratively, as Terraform's
// `moved` blocks do. Each entry says the record `from` is the resource module
// `to` now; plan then compares `to` with that record (shown "moved from"), and
// apply renames the record before any change. Checked here, located in the
// file: `to` must be a resource module, `from` must no longer be one, no
// entry may repeat a `from` or chain onto another.
import type { ErrorDetail } from "../../proto/errors.js";
import { resolveForEnvironment } from "./environments.js";
import type { MovedEntry } from "./model.js";
import { PROVIDER_MODULE, type RawModule, STATE_MODULE, movedEntrySchema } from "./schema.js";
import type { SourceFile } from "./source.js";

/** Every entry of `moved:` checked, and those whose `to` is enabled in `env` resolved; problems go to `problems`. */
export function checkMovedSection(
  source: SourceFile,
  value: readonly unknown[],
  modules: readonly (RawModule | undefined)[],
  env: string,
  problems: ErrorDetail[],
): MovedEntry[] {
  const byName = new Map<string, RawModule>();
  for (const m of modules) if (m && !byName.has(m.name)) byName.set(m.name, m);
  // Names the schema refused are still modules of the file: reported there, not again here.
  const rawNames = new Set(((source.value() as { modules?: unknown[] }).modules ?? []).map((m) => (m as { name?: unknown } | null)?.name).filter((n) => typeof n === "string"));
  const resolvedNames = new Set(modules.flatMap((m) => (m ? [resolveForEnvironment(m, env)?.name ?? m.name] : [])));
  const at = (index: number, key: "from" | "to" | undefined, message: string) =>
    problems.push(source.detail(key ? ["moved", index, key] : ["moved", index], message, undefined, key ? `moved.${index}.${key}` : `moved.${index}`));
  const entries: { from: string; to: string; index: number }[] = [];
  value.forEach((entry, index) => {
    const parsed = movedEntrySchema.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = issue.path[0] === "from" || issue.path[0] === "to" ? issue.path[0] : undefined;
        const message = issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")} (an entry is { from: OLD, to: NEW })` : issue.message.includes("received undefined") ? "is required" : issue.message;
        at(index, key, key || issue.code === "unrecognized_keys" ? message : `must be a mapping { from: OLD, to: NEW }`);
      }
      return;
    }
    entries.push({ ...parsed.data, index });
  });
  const fromOf = new Map<string, number>();
  const resolved: MovedEntry[] = [];
  for (const { from, to, index } of entries) {
    if (from === to) {
      at(index, "to", `from and to are both "${from}": a move needs two names`);
      continue;
    }
    const earlier = fromOf.get(from);
    if (earlier !== undefined) {
      at(index, "from", `"${from}" is moved already by moved entry #${earlier + 1}: a record moves to one resource`);
      continue;
    }
    fromOf.set(from, index);
    const chained = entries.find((e) => e.to === from);
    if (chained) {
      at(index, "from", `"${from}" is the "to" of moved entry #${chained.index + 1} (a chain): write that entry as { from: ${chained.from}, to: ${to} } instead`);
      continue;
    }
    if (byName.has(from) || rawNames.has(from) || resolvedNames.has(from)) {
      at(index, "from", `"${from}" is still a module of the configuration: moved renames a record whose module was renamed (remove or rename the module "${from}")`);
      continue;
    }
    const target = byName.get(to);
    if (!target) {
      if (!rawNames.has(to)) at(index, "to", `"${to}" names no module of the configuration (modules: ${[...byName.keys()].join(", ") || "none"})`);
      continue;
    }
    if (target.type === STATE_MODULE || target.type === PROVIDER_MODULE) {
      at(index, "to", `"${to}" is an ${target.type} module; moved renames resources`);
      continue;
    }
    const view = resolveForEnvironment(target, env);
    // Disabled in this environment: nothing to move here.
    if (view) resolved.push({ from, to: view.name, index });
  }
  return resolved;
}
