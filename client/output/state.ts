// Where state lives and what happened to its lock, for people: the header
// plan, apply, destroy and drift print first (on stderr, so that stdout stays
// exactly the plan or the drift report), the warnings an operation returns,
// and the listings of `wfctl infra state list` and `wfctl infra state locks`.
import type { HeldLock, StateResource } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { renderTable } from "./table.js";

/**
 * The header line naming the backend and namespace an operation used ("" when
 * the daemon said nothing); `stamped` where progress lines carry a timestamp
 * (CI logs), so that every line there still starts with one.
 */
export function stateHeader(backend: string, namespace: string, stamped: boolean): string {
  if (backend === "") return "";
  // Some descriptions (postgres) name the namespace already.
  const withNamespace = namespace === "" || backend.includes(`namespace ${namespace}`) ? backend : `${backend}, namespace ${namespace}`;
  return `${stamped ? `${new Date().toISOString()} ` : ""}State: ${withNamespace}\n`;
}

/** One "Warning:" line per warning an operation returned. */
export function renderWarnings(warnings: readonly string[]): string {
  return warnings.map((w) => `Warning: ${w}\n`).join("");
}

/** The records of `wfctl infra state list`, as a table with a count line, or a line saying there are none. */
export function renderStateList(resources: readonly StateResource[], backend: string): string {
  if (resources.length === 0) return `No resources in state (${backend}).\n`;
  const table = renderTable(
    ["name", "type", "provider", "status", "updated"],
    resources.map((r) => [r.name + (r.protected ? " [protected]" : ""), r.type, r.provider, r.status, r.updatedAt]),
  );
  return `${table}\n${resources.length} resource(s) in ${backend}.\n`;
}

/** `wfctl infra state list --json`. */
export function stateListJson(resources: readonly StateResource[], backend: string, namespace: string): Record<string, unknown> {
  return {
    backend,
    namespace,
    resources: resources.map((r) => ({
      name: r.name,
      type: r.type,
      provider: r.provider,
      provider_id: r.providerId,
      status: r.status,
      protected: r.protected,
      depends_on: r.dependsOn,
      created_at: r.createdAt,
      updated_at: r.updatedAt,
      outputs: JSON.parse(r.outputsJson || "{}") as unknown,
    })),
  };
}

/** How long ago `createdAt` was, compactly ("3m12s", "2h5m", "4d2h"); "?" when it is not a time. */
export function lockAge(createdAt: string, now: number = Date.now()): string {
  const seconds = Math.floor((now - Date.parse(createdAt)) / 1000);
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${Math.max(seconds, 0)}s`;
  const [m, h, d] = [Math.floor(seconds / 60), Math.floor(seconds / 3600), Math.floor(seconds / 86400)];
  if (h === 0) return `${m}m${seconds % 60}s`;
  if (d === 0) return `${h}h${m % 60}m`;
  return `${d}d${h % 24}h`;
}

/** The locks of `wfctl infra state locks`: a table, then the command that releases each. */
export function renderStateLocks(locks: readonly HeldLock[], backend: string): string {
  if (locks.length === 0) return `No state lock is held (${backend}).\n`;
  const table = renderTable(
    ["lock", "id", "holder", "operation", "age", "liveness"],
    locks.map((l) => [l.resourceId, l.lockId || "(none: unreadable)", l.holder, l.operation, lockAge(l.createdAt), l.liveness]),
  );
  const commands = locks.filter((l) => l.unlockCommand !== "").map((l) => `  ${l.unlockCommand}\n`);
  const release = commands.length === 0 ? "" : `If no wfctl command is still running against this state, release ${commands.length > 1 ? "them" : "it"} with:\n${commands.join("")}`;
  return `${table}\n${locks.length} lock(s) held in ${backend}.\n${release}`;
}

/** `wfctl infra state locks --json`. */
export function stateLocksJson(locks: readonly HeldLock[], backend: string, namespace: string): Record<string, unknown> {
  return {
    backend,
    namespace,
    locks: locks.map((l) => ({
      resource_id: l.resourceId,
      lock_id: l.lockId,
      holder: l.holder,
      operation: l.operation,
      created_at: l.createdAt,
      age: lockAge(l.createdAt),
      version: l.version,
      host: l.host,
      pid: l.pid,
      daemon_pid: l.daemonPid,
      liveness: l.liveness,
      unlock_command: l.unlockCommand,
    })),
  };
}
