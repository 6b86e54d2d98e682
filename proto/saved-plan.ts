// A saved plan (`wfctl infra plan --out FILE`): the file both sides read. The
// daemon writes it and, at `wfctl infra apply FILE`, checks it against what
// is there now (daemon/engine/saved-plan.ts); the client prints it (`wfctl
// infra show FILE`) without a daemon. It holds no plaintext secret: the plan
// inside is masked as `plan --json` masks it, and the values the daemon
// compares are sealed (proto/sealed.ts).
import { create, fromJson, type JsonObject as ProtoJsonObject, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import { ErrorCode, WfctlError } from "./errors.js";
import { type Plan, PlanSchema } from "./gen/wfctl/daemon/v1/daemon_pb.js";
import { type JsonObject, isJsonObject } from "./json.js";
import { REDACTED, isSensitiveKey } from "./redact.js";
import { WFCTL_VERSION } from "./versions.js";

export const SAVED_PLAN_FORMAT = "wfctl-saved-plan";
/** The format version this wfctl writes and reads; a later one is refused, never half-understood. */
export const SAVED_PLAN_VERSION = 1;
/** The largest plan file accepted (what fits in an ApplyRequest beside the rest of it). */
export const SAVED_PLAN_MAX_BYTES = 4 * 1024 * 1024 - 64 * 1024;

export interface SavedPlanDocument {
  format: typeof SAVED_PLAN_FORMAT;
  version: number;
  /** The wfctl that made it. */
  wfctl_version: string;
  created_at: string;
  /** The configuration and environment it was planned for (never the step's environment variables). */
  target: { config_path: string; env: string };
  destroy: boolean;
  /** --target and --replace as given to the plan: applying it uses the same. */
  targets: string[];
  replace: string[];
  /** The plan, as the API gives it (protobuf JSON of wfctl.daemon.v1.Plan), sensitive values masked. */
  plan: JsonObject;
  /** What the daemon compares before applying, by section (daemon/engine/saved-plan.ts); sensitive values sealed. */
  checks: JsonObject;
}

/**
 * Whether a configuration key names a secret whose value a plan file must
 * not hold in plain: a sensitive key (proto/redact.ts), except `*_env`
 * fields, which name an environment variable and hold no secret themselves.
 */
export function isSecretKey(key: string): boolean {
  return isSensitiveKey(key) && !/_env$/i.test(key);
}

/** The Plan message as a plan file keeps it: fields whose name says secret are masked too. */
function maskedPlan(plan: MessageInitShape<typeof PlanSchema>): Plan {
  const message = create(PlanSchema, plan);
  for (const change of message.changes) {
    for (const field of change.fields) {
      if (!isSecretKey(field.field.split(".").at(-1) ?? "")) continue;
      if (field.beforeJson) field.beforeJson = JSON.stringify(REDACTED);
      if (field.afterJson) field.afterJson = JSON.stringify(REDACTED);
      field.sensitive = true;
    }
  }
  return message;
}

/** A plan file's content. */
export function encodeSavedPlan(parts: {
  target: SavedPlanDocument["target"];
  destroy: boolean;
  targets: readonly string[];
  replace: readonly string[];
  plan: MessageInitShape<typeof PlanSchema>;
  checks: JsonObject;
}): Uint8Array {
  const document: SavedPlanDocument = {
    format: SAVED_PLAN_FORMAT,
    version: SAVED_PLAN_VERSION,
    wfctl_version: WFCTL_VERSION,
    created_at: new Date().toISOString(),
    target: parts.target,
    destroy: parts.destroy,
    targets: [...parts.targets],
    replace: [...parts.replace],
    plan: toJson(PlanSchema, maskedPlan(parts.plan)) as JsonObject,
    checks: parts.checks,
  };
  return new TextEncoder().encode(`${JSON.stringify(document, null, 2)}\n`);
}

function stringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/** The problem with a document's outer shape, if it has one. */
function shapeProblem(doc: JsonObject): string | undefined {
  if (doc["format"] !== SAVED_PLAN_FORMAT) return `its "format" is not "${SAVED_PLAN_FORMAT}"`;
  const version = doc["version"];
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) return `its "version" is not a format version`;
  if (version > SAVED_PLAN_VERSION) {
    return `it is format version ${version}, made by a newer wfctl (${String(doc["wfctl_version"])}); this wfctl (${WFCTL_VERSION}) reads version ${SAVED_PLAN_VERSION}`;
  }
  const target = doc["target"];
  if (!isJsonObject(target) || typeof target["config_path"] !== "string" || typeof target["env"] !== "string") return `its "target" is not {config_path, env}`;
  if (typeof doc["wfctl_version"] !== "string" || typeof doc["created_at"] !== "string") return `"wfctl_version" and "created_at" must be strings`;
  if (typeof doc["destroy"] !== "boolean") return `its "destroy" is not true or false`;
  if (!stringList(doc["targets"]) || !stringList(doc["replace"])) return `its "targets" and "replace" must be lists of names`;
  if (!isJsonObject(doc["plan"]) || !isJsonObject(doc["checks"])) return `its "plan" and "checks" must be objects`;
  return undefined;
}

/** Reads a plan file's content; `source` (the file, or the request field) names it in errors. */
export function parseSavedPlan(content: Uint8Array | string, source: string): { document: SavedPlanDocument; plan: Plan } {
  const bad = (why: string) => new WfctlError(ErrorCode.INVALID_ARGUMENT, `${source} is not a wfctl saved plan: ${why}`, { details: [{ field: source, message: why }] });
  const text = typeof content === "string" ? content : new TextDecoder().decode(content);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`it is not JSON (${(err as Error).message}); make one with wfctl infra plan --out FILE`);
  }
  if (!isJsonObject(doc)) throw bad("it is not a JSON object");
  const problem = shapeProblem(doc);
  if (problem) throw bad(problem);
  let plan: Plan;
  try {
    plan = fromJson(PlanSchema, doc["plan"] as ProtoJsonObject);
  } catch (err) {
    throw bad(`its "plan" is not a plan (${(err as Error).message})`);
  }
  return { document: doc as unknown as SavedPlanDocument, plan };
}
