// The saved plan file format (proto/saved-plan.ts): what is written (the plan
// masked, fields whose name says secret included), and that a file that is
// not a plan, or one a newer wfctl made, is refused naming the file.
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../proto/errors.js";
import { Action } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { SAVED_PLAN_VERSION, encodeSavedPlan, isSecretKey, parseSavedPlan } from "../../proto/saved-plan.js";

const parts = {
  target: { config_path: "/x/infra.yaml", env: "staging" },
  destroy: false,
  targets: ["web"],
  replace: [],
  plan: {
    fingerprint: "f",
    changes: [
      {
        name: "db",
        type: "postgres.role",
        action: Action.CREATE,
        fields: [
          { field: "password", afterJson: JSON.stringify("hunter2-plain") },
          { field: "password_env", afterJson: JSON.stringify("DB_PASSWORD") },
          { field: "name", afterJson: JSON.stringify("app") },
        ],
      },
    ],
  },
  checks: { configuration: { digest: "sha256:0", sealed: {} } },
};

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error("expected an error");
}

describe("saved plan file", () => {
  it("round-trips, with a field whose name says secret masked (but not a *_env field, which names a variable)", () => {
    const content = encodeSavedPlan(parts);
    const text = new TextDecoder().decode(content);
    expect(text).not.toContain("hunter2-plain");
    const { document, plan } = parseSavedPlan(content, "p.json");
    expect(document).toMatchObject({ format: "wfctl-saved-plan", version: SAVED_PLAN_VERSION, target: parts.target, targets: ["web"], destroy: false });
    const fields = Object.fromEntries(plan.changes[0]?.fields.map((f) => [f.field, [f.afterJson, f.sensitive]]) ?? []);
    expect(fields).toEqual({ password: ['"(sensitive)"', true], password_env: ['"DB_PASSWORD"', false], name: ['"app"', false] });
    expect(isSecretKey("api_token")).toBe(true);
    expect(isSecretKey("token_env")).toBe(false);
    expect(isSecretKey("password_ref")).toBe(false);
  });

  it("refuses what is not a plan, and a plan of a newer format, naming the file", () => {
    const notJson = errorOf(() => parseSavedPlan("modules: []\n", "infra.yaml"));
    expect(notJson.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(notJson.message).toMatch(/^infra\.yaml is not a wfctl saved plan: it is not JSON/);
    expect(errorOf(() => parseSavedPlan('{"format": "other"}', "x.json")).message).toBe('x.json is not a wfctl saved plan: its "format" is not "wfctl-saved-plan"');
    const newer = JSON.parse(new TextDecoder().decode(encodeSavedPlan(parts))) as Record<string, unknown>;
    newer["version"] = SAVED_PLAN_VERSION + 1;
    newer["wfctl_version"] = "9.9.9";
    expect(errorOf(() => parseSavedPlan(JSON.stringify(newer), "new.json")).message).toContain(`it is format version ${SAVED_PLAN_VERSION + 1}, made by a newer wfctl (9.9.9)`);
    const broken = { ...newer, version: 1, plan: { changes: "no" } };
    expect(errorOf(() => parseSavedPlan(JSON.stringify(broken), "b.json")).message).toContain(`b.json is not a wfctl saved plan: its "plan" is not a plan`);
  });
});
