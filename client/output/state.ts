// Where state lives and what happened to its lock, for people: the header
// plan, apply, destroy and drift print first (on stderr, so that stdout stays
// exactly the plan or the drift report), the warnings an operation returns,
// and the listing of `wfctl infra state list`.
import type { StateResource } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
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
