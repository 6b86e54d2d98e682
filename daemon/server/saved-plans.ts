// Saved plans at the API edge: the file PlanRequest.save returns, and what an
// ApplyRequest.saved_plan asks for (its targets, replace and destroy are the
// plan's; the request may not say otherwise).
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { ApplyRequest } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { encodeSavedPlan, parseSavedPlan } from "../../proto/saved-plan.js";
import type { ApplyOptions, Target } from "../engine/engine.js";
import type { Plan } from "../engine/plan.js";
import type { SavedPlanRecord } from "../engine/saved-plan.js";
import type { StateLocation } from "../state/open.js";
import { planMessage } from "./convert.js";
import { plannedVariables } from "../engine/saved-plan-variables.js";

/** The plan file for `plan`, made for `target` (only its path and environment name go in). */
export function savedPlanFile(plan: Plan, where: StateLocation, saved: SavedPlanRecord, target: Target, replace: readonly string[]): Uint8Array {
  return encodeSavedPlan({
    target: { config_path: target.configPath, env: target.env },
    destroy: plan.destroy,
    targets: plan.targets,
    replace,
    plan: { ...planMessage(plan, where), fingerprint: saved.fingerprint },
    checks: saved.checks,
  });
}

/** What an apply of a saved plan is given, and the target with the plan's input variables; undefined when the request carries none. */
export function savedPlanRequest(req: ApplyRequest, target: Target): { options: Pick<ApplyOptions, "targets" | "replace" | "savedPlan">; target: Target } | undefined {
  if (req.savedPlan.byteLength === 0) return undefined;
  if (Object.keys(target.variables ?? {}).length > 0 || (target.variableFiles ?? []).length > 0) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "a saved plan holds its input variables: variables (--var) and variable_files (--var-file) must be empty with saved_plan; nothing was done");
  }
  const decided = [
    req.targets.length > 0 ? "targets (--target)" : "",
    req.replace.length > 0 ? "replace (--replace)" : "",
    req.refresh ? "refresh (--refresh)" : "",
    req.expectedFingerprint ? "expected_fingerprint" : "",
  ].filter(Boolean);
  if (decided.length > 0) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `a saved plan decided what to apply: ${decided.join(", ")} must be empty with saved_plan; nothing was done`);
  }
  const { document } = parseSavedPlan(req.savedPlan, "saved_plan");
  if (document.target.env !== target.env) {
    const planned = document.target.env ? `environment "${document.target.env}"` : "no environment";
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `the saved plan was made for ${planned}; apply it ${document.target.env ? `with --env ${document.target.env}` : "without --env"}; nothing was done`);
  }
  return {
    options: { targets: document.targets, replace: document.replace, savedPlan: { checks: document.checks, destroy: document.destroy } },
    // Values in clear are used as planned; a sensitive one comes from the request's environment (WFCTL_VAR_), checked against its seal.
    target: { ...target, variables: plannedVariables(document.checks) },
  };
}
