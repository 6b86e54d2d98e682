// Saved plans, the daemon's side (the file format is proto/saved-plan.ts).
// `plan --out` records, section by section (saved-plan-sections.ts), what
// the plan was made from; `apply FILE` plans again under the state lock and
// applies only if every section finds nothing changed: the configuration, the
// state record of each planned resource, the plugins, the resolved
// configurations, and each change itself (a resource edited out of band
// plans differently). Otherwise PLAN_STALE names what changed, and nothing
// is done.
import { createHash } from "node:crypto";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { type JsonObject, canonicalJson } from "../../proto/json.js";
import { type SavedPlanBasis, SECTIONS as CONFIG_SECTIONS, checked } from "./saved-plan-sections.js";
import { variables } from "./saved-plan-variables.js";

/** The sections, in the order they are checked and reported: the variables first (a value given differently explains the rest). */
const SECTIONS = [checked(variables), ...CONFIG_SECTIONS];

export type { SavedPlanBasis } from "./saved-plan-sections.js";

/** What a saved plan's file records besides the plan itself. */
export interface SavedPlanRecord {
  /** The "checks" object of the file. */
  checks: JsonObject;
  /**
   * The fingerprint the file's plan carries: a digest of its changes as
   * recorded (sensitive values sealed), never of the values themselves.
   */
  fingerprint: string;
}

/** Records what `basis.plan` was made from, for the plan file. */
export async function recordSavedPlan(basis: SavedPlanBasis): Promise<SavedPlanRecord> {
  const checks: JsonObject = {};
  for (const section of SECTIONS) checks[section.name] = await section.record(basis);
  const fingerprint = createHash("sha256").update(canonicalJson(checks["changes"] ?? null)).digest("hex").slice(0, 32);
  return { checks, fingerprint };
}

/** At most this many differences are named in the error (all are in its details). */
const NAMED = 8;

/**
 * Refuses with PLAN_STALE, naming each difference, unless `basis` (a plan
 * made now, with the saved plan's targets and replace) is what `checks`
 * recorded. A malformed or unknown section is INVALID_ARGUMENT.
 */
export async function checkSavedPlan(checks: JsonObject, basis: SavedPlanBasis): Promise<void> {
  const known = new Set(SECTIONS.map((s) => s.name));
  const unknown = Object.keys(checks).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `the saved plan records checks this wfctl does not know (${unknown.join(", ")}); apply it with the wfctl that made it, or plan again`);
  }
  const details: ErrorDetail[] = [];
  for (const section of SECTIONS) {
    const saved = checks[section.name];
    if (saved === undefined) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `the saved plan lacks its "${section.name}" checks; plan again with wfctl infra plan --out`);
    for (const message of await section.changed(saved, basis)) details.push({ field: section.name, message });
  }
  if (details.length === 0) return;
  const named = details.slice(0, NAMED).map((d) => d.message);
  const more = details.length > NAMED ? `; and ${details.length - NAMED} more` : "";
  throw new WfctlError(
    ErrorCode.PLAN_STALE,
    `the saved plan is stale: ${named.join("; ")}${more}. Nothing was changed: make a new plan (wfctl infra plan --out FILE), review it, and apply that`,
    { details },
  );
}
