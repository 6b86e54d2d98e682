// A sensitive value keeps its mask through ${} references (issue 17, item
// 10): the postgres provider's schema-sensitive output password_fingerprint,
// referenced in a local.file's content, was printed by the plan and stored
// plain in that file's state. Through the real CLI, daemon, postgres and
// local provider plugins against a real PostgreSQL: plan (text and --json),
// apply, drift and refresh never print it, the file's record holds it sealed
// (and keeps the same seal while unchanged), the daemon's log never holds it,
// and a reference to the tainted field itself is refused. The file on disk
// does hold it: writing it there is what the configuration asks for.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { daemonFiles } from "../../proto/socket.js";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";

const id = randomBytes(4).toString("hex");
const ROLE = `sec_${id}`;
const PASSWORD = `Pw-${randomBytes(9).toString("base64url")}`;

const BASE = `modules:
  - name: pg
    type: iac.provider
    config: { provider: postgres, url_env: SEC_PG_ADMIN_URL }

  - name: app-role
    type: postgres.role
    provider: pg
    config: { name: ${ROLE}, login: true, password_env: SEC_APP_PASSWORD }

  - name: local
    type: iac.provider
    config: { provider: local, root: out }
`;

/** The case: the fingerprint interpolated into a file's content, beside a value that is not sensitive. */
const withCopy = (suffix = "") => `${BASE}
  - name: fp-copy
    type: local.file
    provider: local
    config:
      path: role.txt
      content: "role \${app-role.name} fingerprint=\${app-role.password_fingerprint}${suffix}"
`;

interface JsonField {
  field: string;
  before?: unknown;
  after?: unknown;
  sensitive?: boolean;
}

describe("sensitive values through references", () => {
  const sandbox = cliSandbox("wft-taint-");
  const admin = new pg.Pool({ connectionString: inject("postgresUrl"), max: 1 });
  /** Every command's output but the one that asks for the value. */
  const seen: CliResult[] = [];
  let config = "";
  let fingerprint = "";
  const env = () => ({ SEC_PG_ADMIN_URL: inject("postgresUrl"), SEC_APP_PASSWORD: PASSWORD });
  const run = async (args: string[]) => {
    const result = await sandbox.cli.run(args, { env: env() });
    seen.push(result);
    return result;
  };
  const copyRecord = () => JSON.parse(readFileSync(join(sandbox.dir, ".wfctl", "state", "default", "resources", "fp-copy.json"), "utf8")) as { config: Record<string, unknown> };
  /** The fingerprint and each of its parts (salt, hash) that could leak alone. */
  const secrets = () => [fingerprint, ...fingerprint.split("$").filter((part) => part.length > 8)];
  const expectNoSecret = (text: string, what: string) => {
    for (const secret of secrets()) expect(text.includes(secret), `${what} holds the fingerprint:\n${text}`).toBe(false);
  };

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, BASE);
  });

  afterAll(async () => {
    await sandbox.cli.run(["infra", "destroy", "-c", config, "--auto-approve"], { env: env() });
    await admin.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => {});
    await admin.end();
  });

  it("the role's fingerprint is a schema-sensitive output", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const shown = await sandbox.cli.run(["infra", "outputs", "app-role.password_fingerprint", "-c", config, "--show-sensitive"], { env: env() });
    expectExit(shown, 0);
    fingerprint = shown.stdout.trim();
    expect(fingerprint).toMatch(/^scrypt\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expectNoSecret((await run(["infra", "outputs", "-c", config])).stdout, "outputs");
  });

  it("the plan of a file whose content interpolates it masks that content, in text and in --json", async () => {
    writeFileSync(config, withCopy());
    const text = await run(["infra", "plan", "-c", config]);
    expectExit(text, 0);
    expect(text.stdout).toMatch(/\+\s+fp-copy\s+local\.file/);
    expect(text.stdout).toContain('content: "(sensitive)"');
    expect(text.stdout).toContain('path: "role.txt"');
    expectNoSecret(text.stdout + text.stderr, "plan");
    const json = await run(["infra", "plan", "-c", config, "--json"]);
    expectExit(json, 0);
    expectNoSecret(json.stdout + json.stderr, "plan --json");
    const summary = JSON.parse(json.stdout.trim().split("\n").at(-1) ?? "{}") as { result: { changes: { name: string; fields: JsonField[] }[] } };
    const content = summary.result.changes.find((c) => c.name === "fp-copy")?.fields.find((f) => f.field === "content");
    expect(content).toMatchObject({ after: "(sensitive)", sensitive: true });
  });

  it("apply writes the value into the file, and seals it in the file's record; a second apply keeps the same seal", async () => {
    const applied = await run(["infra", "apply", "-c", config, "--auto-approve", "--json"]);
    expectExit(applied, 0);
    expectNoSecret(applied.stdout + applied.stderr, "apply --json");
    expect(readFileSync(join(sandbox.dir, "out", "role.txt"), "utf8")).toBe(`role ${ROLE} fingerprint=${fingerprint}`);
    const record = readFileSync(join(sandbox.dir, ".wfctl", "state", "default", "resources", "fp-copy.json"), "utf8");
    expectNoSecret(record, "the file's state record");
    const sealed = copyRecord().config["content"] as Record<string, string>;
    expect(Object.keys(sealed)).toEqual(["$wfctl_sealed"]);
    expect(copyRecord().config["path"]).toBe("role.txt");
    // Sealed, yet the plan is empty and the seal does not churn.
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(copyRecord().config["content"]).toEqual(sealed);
  });

  it("an update, drift and refresh of that file never print it", async () => {
    writeFileSync(config, withCopy(" v2"));
    const plan = await run(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(plan, 2);
    expect(plan.stdout).toMatch(/~\s+fp-copy\s+local\.file/);
    expect(plan.stdout).toContain('content: "(sensitive)" → "(sensitive)"');
    expectNoSecret(plan.stdout + plan.stderr, "update plan");
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(readFileSync(join(sandbox.dir, "out", "role.txt"), "utf8")).toBe(`role ${ROLE} fingerprint=${fingerprint} v2`);
    // Changed behind wfctl's back, still holding the fingerprint.
    writeFileSync(join(sandbox.dir, "out", "role.txt"), `edited: ${fingerprint}`);
    const drift = await run(["infra", "drift", "-c", config, "--detailed-exitcode"]);
    expectExit(drift, 2);
    expect(drift.stdout).toMatch(/^CONFIG\s+fp-copy\s+local\.file/m);
    const driftJson = await run(["infra", "drift", "-c", config, "--json"]);
    const refresh = await run(["infra", "refresh", "-c", config]);
    expectExit(refresh, 0);
    const replan = await run(["infra", "plan", "-c", config, "--json"]);
    for (const [what, result] of [["drift", drift], ["drift --json", driftJson], ["refresh", refresh], ["plan after drift", replan]] as const) {
      expectNoSecret(result.stdout + result.stderr, what);
    }
    const fields = (JSON.parse(driftJson.stdout) as { results: { name: string; fields: JsonField[] }[] }).results.find((r) => r.name === "fp-copy")?.fields;
    expect(fields?.find((f) => f.field === "content")).toMatchObject({ sensitive: true });
    expectExit(await run(["infra", "refresh", "-c", config, "--auto-approve"]), 0);
    expectNoSecret(readFileSync(join(sandbox.dir, ".wfctl", "state", "default", "resources", "fp-copy.json"), "utf8"), "the record after refresh");
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
  });

  it("a reference to the tainted field itself is refused at plan: state keeps it sealed", async () => {
    writeFileSync(config, `${withCopy(" v2")}\n  - name: second\n    type: local.file\n    provider: local\n    config: { path: second.txt, content: "\${fp-copy.content}" }\n`);
    const plan = await run(["infra", "plan", "-c", config]);
    expectExit(plan, 1);
    expect(plan.stderr).toContain('module "second": reference ${fp-copy.content}: field "content" of "fp-copy" holds a sensitive value (through its own references), which state keeps sealed');
    expectNoSecret(plan.stdout + plan.stderr, "refused plan");
    writeFileSync(config, withCopy(" v2"));
  });

  it("an output whose source is the tainted field is refused at plan: state keeps it sealed, so no output could read it", async () => {
    writeFileSync(config, `${withCopy(" v2")}outputs:\n  copied:\n    source: fp-copy.content\n    sensitive: true\n`);
    const plan = await run(["infra", "plan", "-c", config]);
    expectExit(plan, 1);
    expect(plan.stderr).toContain('output "copied": source "fp-copy.content" is field "content" of "fp-copy", which holds a sensitive value (through its references), which state keeps sealed');
    expectNoSecret(plan.stdout + plan.stderr, "refused plan");
    writeFileSync(config, withCopy(" v2"));
  });

  it("nothing wfctl printed or logged holds it", () => {
    const files = daemonFiles(sandbox.cli.socket);
    const haystack = [readFileSync(files.log, "utf8"), existsSync(files.audit) ? readFileSync(files.audit, "utf8") : "", ...seen.map((r) => r.stdout + r.stderr)].join("\n");
    expect(haystack).toContain("fp-copy"); // the haystack is real
    expectNoSecret(haystack, "the daemon's log and every output");
  });
});
