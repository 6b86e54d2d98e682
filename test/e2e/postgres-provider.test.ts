// The postgres provider through the real CLI, against a real PostgreSQL: a
// database, roles and a grant wired by references; a role dropped and a
// connection limit changed behind wfctl's back show as ghost and config
// drift; `apply --refresh --auto-approve` converges and the plan is then
// empty. A role's password is never in state, listings, logs or outputs.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { daemonFiles } from "../../proto/socket.js";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";

const id = randomBytes(4).toString("hex");
const APP = `app_${id}`;
const RO = `ro_${id}`;
const AUDIT = `audit_${id}`;
const DB = `appdb_${id}`;
const PASSWORD = `Pw-${randomBytes(9).toString("base64url")}-SECRET`;

const CONFIG = `modules:
  - name: pg
    type: iac.provider
    config: { provider: postgres, url_env: E2E_PG_ADMIN_URL }

  - name: app-role
    type: postgres.role
    provider: pg
    config: { name: ${APP}, login: true, connection_limit: 10, password_env: E2E_APP_PASSWORD }

  - name: ro-role
    type: postgres.role
    provider: pg
    config: { name: ${RO}, login: true }

  - name: audit-role
    type: postgres.role
    provider: pg
    config: { name: ${AUDIT}, connection_limit: 3 }

  - name: app-db
    type: postgres.database
    provider: pg
    config: { name: ${DB}, owner: "\${app-role.name}" }

  - name: ro-connect
    type: postgres.grant
    provider: pg
    config: { role: "\${ro-role.name}", database: "\${app-db.name}", privileges: [CONNECT] }
`;

/** Every file under `dir`, as text. */
function filesUnder(dir: string): string {
  let out = "";
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    out += statSync(path).isDirectory() ? filesUnder(path) : readFileSync(path, "utf8");
  }
  return out;
}

describe("postgres provider", () => {
  const sandbox = cliSandbox("wft-pgp-");
  const admin = new pg.Pool({ connectionString: inject("postgresUrl"), max: 2 });
  const seen: CliResult[] = [];
  let config = "";
  const run = async (args: string[]) => {
    const result = await sandbox.cli.run(args, { env: { E2E_PG_ADMIN_URL: inject("postgresUrl"), E2E_APP_PASSWORD: PASSWORD } });
    seen.push(result);
    return result;
  };
  const role = async (name: string) => (await admin.query<{ rolconnlimit: number }>("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", [name])).rows[0];

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
  });

  afterAll(async () => {
    await run(["infra", "destroy", "-c", config, "--auto-approve"]);
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`).catch(() => {});
    for (const name of [RO, AUDIT, APP]) await admin.query(`DROP ROLE IF EXISTS ${name}`).catch(() => {});
    await admin.end();
  });

  it("a configuration that breaks a provider's schema is refused naming module and field, before anything is changed", async () => {
    const bad = join(sandbox.dir, "bad.yaml");
    writeFileSync(
      bad,
      CONFIG.replace(`config: { name: ${AUDIT}, connection_limit: 3 }`, `config: { name: ${AUDIT}, connection_limit: "three", colour: blue }`).replace(
        `config: { name: ${RO}, login: true }`,
        "config: { login: true }",
      ),
    );
    const result = await run(["infra", "apply", "-c", bad, "--auto-approve"]);
    expectExit(result, 1);
    expect(result.stderr).toMatch(/bad\.yaml:\d+:\d+: module "audit-role": field "config\.connection_limit": must be a number/);
    expect(result.stderr).toMatch(/module "audit-role": field "config\.colour": is unknown \(known fields: name, login, connection_limit, password_env\)/);
    expect(result.stderr).toMatch(/module "ro-role": field "config\.name": is required/);
    // Nothing was created: not even the valid roles of the same file.
    expect(await role(APP)).toBeUndefined();
    expect(await role(AUDIT)).toBeUndefined();
  });

  it("applies a database, three roles and a grant in reference order; the plan is then empty", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect((await role(APP))?.rolconnlimit).toBe(10);
    const owner = await admin.query<{ owner: string }>("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1", [DB]);
    expect(owner.rows[0]?.owner).toBe(APP);
    const connect = await admin.query<{ ok: boolean }>("SELECT has_database_privilege($1, $2, 'CONNECT') AS ok", [RO, DB]);
    expect(connect.rows[0]?.ok).toBe(true);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("a role dropped with SQL is a ghost; a connection limit changed with SQL is config drift with expected and actual", async () => {
    await admin.query(`DROP ROLE ${AUDIT}`);
    await admin.query(`ALTER ROLE ${APP} CONNECTION LIMIT 5`);
    const drift = await run(["infra", "drift", "-c", config, "--detailed-exitcode"]);
    expectExit(drift, 2);
    expect(drift.stdout).toMatch(/^GHOST\s+audit-role\s+postgres\.role/m);
    expect(drift.stdout).toMatch(/^CONFIG\s+app-role\s+postgres\.role/m);
    expect(drift.stdout).toContain("connection_limit: expected=10 actual=5");
    const { value } = await sandbox.cli.json<{ results: { name: string; class?: string; fields: { field: string; expected: unknown; actual: unknown }[] }[] }>(
      ["infra", "drift", "-c", config],
      { env: { E2E_PG_ADMIN_URL: inject("postgresUrl"), E2E_APP_PASSWORD: PASSWORD } },
    );
    const app = value.results.find((r) => r.name === "app-role");
    expect(app?.class).toBe("config");
    expect(app?.fields).toContainEqual(expect.objectContaining({ field: "connection_limit", expected: 10, actual: 5 }));
    expect(value.results.find((r) => r.name === "audit-role")?.class).toBe("ghost");
  });

  it("apply --refresh --auto-approve prunes the ghost, re-creates it, restores the limit; the plan is then empty", async () => {
    const applied = await run(["infra", "apply", "-c", config, "--refresh", "--auto-approve"]);
    expectExit(applied, 0);
    expect(applied.stderr).toMatch(/AUDIT prune operation="apply --refresh" resource=audit-role type=postgres\.role/);
    expect((await role(AUDIT))?.rolconnlimit).toBe(3);
    expect((await role(APP))?.rolconnlimit).toBe(10);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
    expectExit(await run(["infra", "drift", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("the role's password is nowhere: state files, state list --json, outputs, the daemon's logs, any output", async () => {
    await run(["infra", "state", "list", "-c", config, "--json"]);
    await run(["infra", "outputs", "-c", config]);
    await run(["infra", "outputs", "-c", config, "--json"]);
    const files = daemonFiles(sandbox.cli.socket);
    const haystack = [
      filesUnder(join(sandbox.dir, ".wfctl")),
      readFileSync(files.log, "utf8"),
      existsSync(files.audit) ? readFileSync(files.audit, "utf8") : "",
      ...seen.map((r) => r.stdout + r.stderr),
    ].join("\n");
    expect(haystack).toContain(APP); // the haystack is real
    expect(haystack).not.toContain(PASSWORD);
  });
});
