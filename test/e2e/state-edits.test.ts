// Adoption and renames through the real CLI, daemon and plugins: a file and
// a PostgreSQL role made by hand are imported (a plan then shows only how the
// configuration differs from them); a module renamed in the configuration is
// followed by `state mv` or declaratively by `moved:` (the plan then shows no
// change); `state rm` forgets a record and leaves its file; every one of them
// writes an audit line; and each refusal changes nothing.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { daemonFiles } from "../../proto/socket.js";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";

interface StateJson {
  resources: { name: string; type: string; provider_id: string; depends_on: string[]; protected: boolean }[];
}

interface PlanJson {
  changes: { name: string; action: string; fields: { field: string }[] }[];
}

interface ErrorJson {
  error: { code: string; message: string };
}

const ROLE = `adopted_${randomBytes(4).toString("hex")}`;

/** The configuration: a directory, a file in it, a loose file, and a role; `names` renames modules (the name as written). */
function configText(names: { site?: string; index?: string } = {}, extra = ""): string {
  const site = names.site ?? "site";
  const index = names.index ?? "index";
  return `modules:
  - name: files
    type: iac.provider
    config: { provider: local, root: out }
  - name: pg
    type: iac.provider
    config: { provider: postgres, url_env: E2E_PG_ADMIN_URL }
  - name: ${site}
    type: local.directory
    provider: files
    config: { path: site }
  - name: ${index}
    type: local.file
    provider: files
    depends_on: [${site}]
    config: { path: site/index.html, content: "home\\n" }
  - name: notes
    type: local.file
    provider: files
    protected: true
    config: { path: notes.txt, content: "as configured\\n" }
  - name: app-role
    type: postgres.role
    provider: pg
    config: { name: ${ROLE}, login: true, connection_limit: 5 }
${extra}`;
}

describe("import, state rm, state mv, moved:", () => {
  const sandbox = cliSandbox("wft-edits-");
  const admin = new pg.Pool({ connectionString: inject("postgresUrl"), max: 1 });
  const seen: CliResult[] = [];
  let config = "";
  const run = async (args: string[]) => {
    const result = await sandbox.cli.run([...args, "-c", config], { env: { E2E_PG_ADMIN_URL: inject("postgresUrl") } });
    seen.push(result);
    return result;
  };
  const json = async <T>(args: string[]) => {
    const { result, value } = await sandbox.cli.json<T>([...args, "-c", config], { env: { E2E_PG_ADMIN_URL: inject("postgresUrl") } });
    seen.push(result);
    return { result, value };
  };
  /** The plan's changes (plan --json streams events; the plan is the summary's result). */
  const planned = async () => {
    const { result, report } = await sandbox.cli.events<PlanJson>(["infra", "plan", "-c", config], { env: { E2E_PG_ADMIN_URL: inject("postgresUrl") } });
    seen.push(result);
    expectExit(result, 0);
    return report.changes;
  };
  const records = async () => Object.fromEntries((await json<StateJson>(["infra", "state", "list"])).value.resources.map((r) => [r.name, r]));
  const auditLines = () =>
    readFileSync(daemonFiles(sandbox.cli.socket).audit, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, string>);
  const write = (text: string) => writeFileSync(config, text);

  beforeAll(async () => {
    config = join(sandbox.dir, "infra.yaml");
    write(configText());
    mkdirSync(join(sandbox.dir, "out"), { recursive: true });
    await admin.query(`CREATE ROLE ${ROLE} LOGIN CONNECTION LIMIT 5`);
  });

  afterAll(async () => {
    await admin.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => {});
    await admin.end();
  });

  it("imports a PostgreSQL role made by hand: recorded with its provider id, audited, and the plan then leaves it alone", async () => {
    const result = await run(["infra", "import", "app-role", `role:${ROLE}`]);
    expectExit(result, 0);
    expect(result.stdout).toContain(`Imported app-role (postgres.role, provider id role:${ROLE}) into state.`);
    expect(result.stderr).toMatch(/State: filesystem .*\.wfctl\/state.*namespace default/);
    expect(result.stderr).toMatch(/AUDIT import operation="import" resource=app-role type=postgres\.role environment=\(none\) caller=\S+ operation_id=\S+/);
    expect((await records())["app-role"]).toMatchObject({ type: "postgres.role", provider_id: `role:${ROLE}` });
    expect(auditLines().at(-1)).toMatchObject({ action: "import", operation: "import", resource: "app-role", type: "postgres.role" });

    expect((await planned()).find((c) => c.name === "app-role")?.action).toBe("noop");
  });

  it("after an import, a plan shows only how the configuration differs from what exists", async () => {
    await admin.query(`ALTER ROLE ${ROLE} CONNECTION LIMIT 9`);
    const plan = await run(["infra", "plan"]);
    expectExit(plan, 0);
    expect(plan.stdout).toMatch(/~\s+app-role\s+postgres\.role\n\s+connection_limit: 9 → 5\n/);
    expect(plan.stdout).not.toMatch(/app-role.*replace/);
    await admin.query(`ALTER ROLE ${ROLE} CONNECTION LIMIT 5`);
  });

  it("imports a file made by hand by its path under the root; the plan updates only its content", async () => {
    writeFileSync(join(sandbox.dir, "out", "notes.txt"), "written by hand\n");
    expectExit(await run(["infra", "import", "notes", "notes.txt"]), 0);
    const recorded = (await records())["notes"];
    expect(recorded).toMatchObject({ type: "local.file", provider_id: join(sandbox.dir, "out", "notes.txt"), protected: true });
    const notes = (await planned()).find((c) => c.name === "notes");
    expect(notes?.action).toBe("update");
    expect(notes?.fields.map((f) => f.field)).toEqual(["content"]);
  });

  it("refuses an import whose record exists, whose name is not configured, or whose resource is not there; state is unchanged", async () => {
    const before = await records();
    const again = await json<ErrorJson>(["infra", "import", "notes", "notes.txt"]);
    expect(again.value.error.code).toBe("ALREADY_EXISTS");
    expect(again.value.error.message).toContain("wfctl infra state rm notes");
    const unknown = await json<ErrorJson>(["infra", "import", "nope", "x.txt"]);
    expect(unknown.value.error.code).toBe("NOT_FOUND");
    expect(unknown.value.error.message).toMatch(/no resource named "nope" in .*infra\.yaml\. Its resources: site, index, notes, app-role/);
    const missing = await json<ErrorJson>(["infra", "import", "index", "site/index.html"]);
    expect(missing.value.error.code).toBe("NOT_FOUND");
    expect(missing.value.error.message).toMatch(/found no local\.file with id "site\/index\.html": nothing was imported/);
    const role = await json<ErrorJson>(["infra", "import", "site", "does-not-exist"]);
    expect(role.value.error.code).toBe("NOT_FOUND");
    expect(await records()).toEqual(before);
  });

  it("apply creates the rest; state mv after renaming a module (and its dependency) leaves a plan with no change", async () => {
    expectExit(await run(["infra", "apply", "--auto-approve"]), 0);
    write(configText({ site: "www", index: "home" }));
    const mv = await run(["infra", "state", "mv", "site", "www"]);
    expectExit(mv, 0);
    expect(mv.stdout).toContain("Moved site to www in state.");
    expect(mv.stderr).toMatch(/AUDIT state mv operation="state mv site www" resource=site type=local\.directory/);
    expectExit(await run(["infra", "state", "mv", "index", "home"]), 0);
    const now = await records();
    expect(Object.keys(now).sort()).toEqual(["app-role", "home", "notes", "www"]);
    // The record that depended on the old name names the new one.
    expect(now["home"]?.depends_on).toEqual(["www"]);
    expectExit(await run(["infra", "plan", "--detailed-exitcode"]), 0);
  });

  it("state mv refuses a missing old name and an existing new one, changing nothing", async () => {
    const before = await records();
    const missing = await json<ErrorJson>(["infra", "state", "mv", "site", "web"]);
    expect(missing.value.error.code).toBe("NOT_FOUND");
    expect(missing.value.error.message).toMatch(/no record named "site": nothing was changed\. Records: app-role, home, notes, www/);
    const taken = await json<ErrorJson>(["infra", "state", "mv", "home", "www"]);
    expect(taken.value.error.code).toBe("ALREADY_EXISTS");
    expect(await records()).toEqual(before);
  });

  it("moved: renames the record declaratively: the plan shows the move and nothing else, apply renames it with an audit line", async () => {
    write(configText({ site: "www", index: "page" }, "moved:\n  - { from: home, to: page }\n"));
    const plan = await run(["infra", "plan", "--detailed-exitcode"]);
    expectExit(plan, 2);
    expect(plan.stdout).toMatch(/->\s+page\s+local\.file\s+\(moved from home\)/);
    expect(plan.stdout).toContain("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete. 1 record(s) to rename (moved:).");
    const apply = await run(["infra", "apply", "--auto-approve"]);
    expectExit(apply, 0);
    expect(apply.stderr).toMatch(/AUDIT moved operation="apply \(moved: home → page\)" resource=home type=local\.file/);
    expect(Object.keys(await records()).sort()).toEqual(["app-role", "notes", "page", "www"]);
    expect(readFileSync(join(sandbox.dir, "out", "site", "index.html"), "utf8")).toBe("home\n");
    // The entry stays in the file; with the record renamed it does nothing.
    expectExit(await run(["infra", "plan", "--detailed-exitcode"]), 0);
  });

  it("state rm forgets records without touching them; a protected one needs --allow-protected; an unknown name removes nothing", async () => {
    const before = await records();
    const unknown = await json<ErrorJson>(["infra", "state", "rm", "page", "nope"]);
    expect(unknown.value.error.code).toBe("NOT_FOUND");
    expect(unknown.value.error.message).toContain('no record named "nope"');
    const guarded = await json<ErrorJson>(["infra", "state", "rm", "notes", "page"]);
    expect(guarded.value.error.code).toBe("PROTECTED_RESOURCE");
    expect(guarded.value.error.message).toMatch(/refusing to forget protected record\(s\) notes \(local\.file\): nothing was removed\. Run again with --allow-protected/);
    expect(await records()).toEqual(before);

    const rm = await run(["infra", "state", "rm", "notes", "app-role", "--allow-protected"]);
    expectExit(rm, 0);
    expect(rm.stderr).toMatch(/AUDIT state rm operation="state rm" resource=notes type=local\.file/);
    expect(rm.stderr).toMatch(/AUDIT state rm operation="state rm" resource=app-role type=postgres\.role/);
    expect(Object.keys(await records()).sort()).toEqual(["page", "www"]);
    // What they described is still there.
    expect(existsSync(join(sandbox.dir, "out", "notes.txt"))).toBe(true);
    expect((await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [ROLE])).rowCount).toBe(1);
    expect(auditLines().filter((a) => a["action"] === "state rm").map((a) => a["resource"])).toEqual(["notes", "app-role"]);
    // Still configured, so planned as creates.
    expect((await planned()).filter((c) => c.action === "create").map((c) => c.name).sort()).toEqual(["app-role", "notes"]);
  });

  it("no output of these commands holds the daemon's secrets", () => {
    const url = inject("postgresUrl");
    const password = new URL(url).password;
    for (const r of seen) {
      if (password) expect(r.stdout + r.stderr).not.toContain(password);
    }
  });
});
