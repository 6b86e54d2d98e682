// The postgres provider as wfctl runs it: the plugin as a real process over
// gRPC, against a real PostgreSQL server, checked from the server's own
// catalogs; and the provider conformance kit against its database, role and
// schema types. Every name carries this run's id; everything is dropped after.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type PluginSpec, PluginCatalog, builtinPlugins } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import type { CreatedResource } from "../../plugins/conformance/provider.js";
import { describeProviderConformance } from "../../plugins/conformance/vitest.js";
import { ErrorCode } from "../../proto/errors.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { Action, DriftClass, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, decodeJsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { ROOT } from "../helpers/paths.js";
import { waitFor } from "../helpers/processes.js";

const BIN = join(ROOT, "plugins", "provider-postgres", "dist", "wfctl-provider-postgres.mjs");
const RUN = randomBytes(4).toString("hex");
/** A name unique to this run: `wft_<what>_<run>`. */
const unique = (what: string) => `wft_${what}_${RUN}`;
const PASSWORD_VAR = "WFT_ROLE_PASSWORD";
const PASSWORDS = [`pw-one-${randomBytes(12).toString("hex")}`, `pw-two-${randomBytes(12).toString("hex")}`] as const;

type Ref = { name: string; type: string };
type Prior = { providerId: string; configJson: Uint8Array; outputsJson: Uint8Array };

let url = "";
let admin: pg.Client;
const supervisors: PluginSupervisor[] = [];
/** Everything the daemon side logged, plugin stderr included (the supervisor copies every line). */
const daemonLog: string[] = [];
/** Every response and error the plugin sent, as text. */
const seen: string[] = [];

function remember(value: unknown): void {
  if (value instanceof Uint8Array) seen.push(Buffer.from(value).toString("utf8"));
  else if (typeof value === "string") seen.push(value);
  else if (Array.isArray(value)) value.forEach(remember);
  else if (value !== null && typeof value === "object") Object.values(value).forEach(remember);
}

async function recorded<T>(call: Promise<T>): Promise<T> {
  try {
    const result = await call;
    remember(result);
    return result;
  } catch (err) {
    remember((err as Error).message);
    remember((err as { details?: unknown }).details);
    throw err;
  }
}

function spec(env: Record<string, string>): PluginSpec {
  return {
    name: "postgres",
    kind: "provider",
    executable: process.execPath,
    args: [BIN],
    env: { WFT_PG_URL: url, WFCTL_PLUGIN_LOG_LEVEL: "debug", ...env },
    source: "test",
  };
}

/** A plugin process; configured with `config` unless it is undefined. */
async function start(env: Record<string, string> = {}, config: JsonObject | undefined = { url_env: "WFT_PG_URL" }): Promise<PluginInstance> {
  const log = pino({ level: "debug" }, { write: (line: string) => void daemonLog.push(line) });
  const s = new PluginSupervisor(new PluginCatalog([spec(env)]), log);
  supervisors.push(s);
  return s.acquire(s.catalog.get("provider", "postgres"), "k", async (i) => {
    if (config) await recorded(i.client(IaCProvider).configure({ configJson: encodeJson(config), workingDir: tmpdir() }));
  });
}

/** The provider calls, every answer remembered. */
function driver(instance: PluginInstance) {
  const provider = () => instance.client(IaCProvider);
  const priorOf = (r: { providerId: string; appliedConfigJson: Uint8Array; outputsJson: Uint8Array }): Prior => ({
    providerId: r.providerId,
    configJson: r.appliedConfigJson,
    outputsJson: r.outputsJson,
  });
  return {
    async plan(ref: Ref, desired: JsonObject, prior?: Prior) {
      const r = await recorded(provider().plan({ resource: ref, desiredConfigJson: encodeJson(desired), ...(prior ? { prior } : {}) }));
      return { action: r.action, fields: r.changes.map((c) => c.field), changes: r.changes };
    },
    create: async (ref: Ref, desired: JsonObject) =>
      priorOf(await recorded(provider().apply({ resource: ref, action: Action.CREATE, desiredConfigJson: encodeJson(desired) }))),
    update: async (ref: Ref, desired: JsonObject, prior: Prior, deadline?: Date) =>
      priorOf(await recorded(provider().apply({ resource: ref, action: Action.UPDATE, desiredConfigJson: encodeJson(desired), prior }, deadline ? { deadline } : {}))),
    async destroy(ref: Ref, prior: Prior) {
      await recorded(provider().apply({ resource: ref, action: Action.DELETE, prior }));
    },
    async read(ref: Ref, prior: Prior) {
      const r = await recorded(provider().read({ resource: ref, prior }));
      return r.found ? { found: true, config: decodeJsonObject(r.configJson, "config"), outputs: decodeJsonObject(r.outputsJson, "outputs") } : { found: false };
    },
    async drift(ref: Ref, prior: Prior) {
      const r = (await recorded(instance.client(IaCDriftDetector).detectDrift({ resource: ref, prior }))).result;
      const fields = (r?.fields ?? []).map((f) => ({
        field: f.field,
        expected: decodeJsonValue(f.expectedJson, "expected"),
        actual: decodeJsonValue(f.actualJson, "actual"),
      }));
      return { class: r?.class, fields };
    },
  };
}

const outputs = (prior: Prior) => decodeJsonObject(prior.outputsJson, "outputs");
/** A prior as the daemon plans with it after a refresh: the configuration read now. */
const refreshed = (prior: Prior, config: JsonObject | undefined): Prior => ({ ...prior, configJson: encodeJson(config ?? {}) });

async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], database?: string): Promise<R[]> {
  if (database === undefined) return (await admin.query<R>(text, values)).rows;
  const client = new pg.Client({ connectionString: urlFor(database) });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

function urlFor(database: string, user?: { name: string; password: string }): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (user) {
    u.username = user.name;
    u.password = encodeURIComponent(user.password);
  }
  return u.toString();
}

const ident = (name: string) => pg.escapeIdentifier(name);

/** Whether a SCRAM-SHA-256 secret as PostgreSQL stores it was made from `password` (RFC 5802). */
function scramMatches(secret: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(secret);
  if (!m) return false;
  const salted = pbkdf2Sync(password, Buffer.from(m[2] as string, "base64"), Number(m[1]), 32, "sha256");
  const hmac = (text: string) => createHmac("sha256", salted).update(text).digest();
  return createHash("sha256").update(hmac("Client Key")).digest("base64") === m[3] && hmac("Server Key").toString("base64") === m[4];
}

async function storedSecret(role: string): Promise<string> {
  const [row] = await sql<{ secret: string | null }>("SELECT rolpassword AS secret FROM pg_authid WHERE rolname = $1", [role]);
  return row?.secret ?? "";
}

async function databasePrivileges(role: string, database: string): Promise<string[]> {
  const [row] = await sql<{ p: string[] }>(
    "SELECT ARRAY(SELECT DISTINCT a.privilege_type FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $2 AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1) AS p",
    [role, database],
  );
  return row?.p ?? [];
}

async function schemaPrivileges(role: string, database: string, schema: string): Promise<string[]> {
  const [row] = await sql<{ p: string[] }>(
    "SELECT ARRAY(SELECT DISTINCT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = $2 AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1) AS p",
    [role, schema],
    database,
  );
  return row?.p ?? [];
}

beforeAll(async () => {
  url = inject("postgresUrl");
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
});

afterAll(async () => {
  await Promise.all(supervisors.map((s) => s.stopAll()));
  for (const { datname } of await sql<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [`%\\_${RUN}`])) {
    await sql(`DROP DATABASE IF EXISTS ${ident(datname)} WITH (FORCE)`);
  }
  for (const { rolname } of await sql<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", [`%\\_${RUN}`])) {
    await sql(`DROP OWNED BY ${ident(rolname)}`);
    await sql(`DROP ROLE ${ident(rolname)}`);
  }
  await admin.end();
});

describe("postgres provider plugin", () => {
  let p: ReturnType<typeof driver>;
  beforeAll(async () => {
    p = driver(await start({ [PASSWORD_VAR]: PASSWORDS[0] }));
  });

  it("is a built-in provider serving four resource types and drift detection", async () => {
    const builtin = builtinPlugins().find((s) => s.name === "postgres");
    expect(builtin).toMatchObject({ kind: "provider", executable: process.execPath, args: [BIN], installable: "@wfctl/provider-postgres" });
    const instance = await start();
    expect(instance.info).toMatchObject({ name: "postgres" });
    expect(instance.info?.services).toContain(IaCDriftDetector.typeName);
    const schema = await instance.client(IaCProvider).getSchema({});
    expect(schema.resourceTypes.map((t) => t.type).sort()).toEqual(["postgres.database", "postgres.grant", "postgres.role", "postgres.schema"]);
    const role = schema.resourceTypes.find((t) => t.type === "postgres.role");
    expect(role?.fields.find((f) => f.name === "password_fingerprint")).toMatchObject({ computed: true, sensitive: true });
  });

  it("refuses literal passwords and bad settings at Configure, naming the field (and the *_env field to use)", async () => {
    const bare = await start({ WFT_BAD_URL: "mysql://somewhere" }, undefined);
    const configure = (config: JsonObject) => rejectionOf(recorded(bare.client(IaCProvider).configure({ configJson: encodeJson(config), workingDir: tmpdir() })));

    const literal = await configure({ host: "127.0.0.1", password: "literal-secret-1" });
    expect(literal.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(literal.message).toContain('"config.password"');
    expect(literal.message).toContain("password_env");
    expect(literal.details[0]?.field).toBe("config.password");

    const inUrl = await configure({ url: "postgres://app:literal-secret-2@127.0.0.1:5432/app" });
    expect(inUrl.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(inUrl.message).toContain('"config.url"');
    expect(inUrl.message).toContain("url_env");

    const unset = await configure({ url_env: `WFT_UNSET_${RUN}` });
    expect(unset.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(unset.message).toContain('"config.url_env"');
    expect(unset.message).toContain(`WFT_UNSET_${RUN}`);

    const notPostgres = await configure({ url_env: "WFT_BAD_URL" });
    expect(notPostgres.message).toContain("not a postgres:// URL");
    expect(notPostgres.message).not.toContain("mysql://somewhere");

    const typed = await configure({ url_env: "WFT_PG_URL", port: "5432" });
    expect(typed.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(typed.message).toContain('field "port"');

    const timeout = await configure({ url_env: "WFT_PG_URL", connect_timeout_ms: -1 });
    expect(timeout.message).toContain('"config.connect_timeout_ms"');

    const unreachable = await configure({ host: "127.0.0.1", port: 1, user: "nobody", database: "none", connect_timeout_ms: 2000 });
    expect(unreachable.code).toBe(ErrorCode.PROVIDER_ERROR);
    expect(unreachable.message).toContain("postgres 127.0.0.1:1/none");

    expect(seen.join("\n")).not.toMatch(/literal-secret-[12]/);
  });

  it("postgres.database: create, read, empty plan, owner and connection limit in place, a new encoding replaces, delete", async () => {
    const owner = unique("dbowner");
    await sql(`CREATE ROLE ${ident(owner)} NOLOGIN`);
    const name = unique("db");
    const ref = { name: "appdb", type: "postgres.database" };
    const desired = { name };

    expect((await p.plan(ref, desired)).action).toBe(Action.CREATE);
    const created = await p.create(ref, desired);
    expect(created.providerId).toBe(`database:${name}`);
    const [row] = await sql<{ oid: number; encoding: string; limit: number }>(
      "SELECT oid::int AS oid, pg_encoding_to_char(encoding) AS encoding, datconnlimit AS limit FROM pg_database WHERE datname = $1",
      [name],
    );
    expect(row).toMatchObject({ encoding: "UTF8", limit: -1 });
    expect(outputs(created)).toEqual({ name, oid: row?.oid });
    expect(await p.read(ref, created)).toMatchObject({ found: true, config: { name, encoding: "UTF8", connection_limit: -1 } });
    expect((await p.plan(ref, desired, created)).action).toBe(Action.NOOP);
    expect((await p.drift(ref, created)).class).toBe(DriftClass.IN_SYNC);

    const changed = { name, owner, connection_limit: 7 };
    const update = await p.plan(ref, changed, created);
    expect(update.action).toBe(Action.UPDATE);
    expect(update.fields).toEqual(["connection_limit", "owner"]);
    const updated = await p.update(ref, changed, created);
    const [after] = await sql<{ oid: number; owner: string; limit: number }>(
      "SELECT oid::int AS oid, pg_get_userbyid(datdba) AS owner, datconnlimit AS limit FROM pg_database WHERE datname = $1",
      [name],
    );
    expect(after).toEqual({ oid: row?.oid, owner, limit: 7 });
    expect((await p.plan(ref, changed, updated)).action).toBe(Action.NOOP);

    await sql(`ALTER DATABASE ${ident(name)} CONNECTION LIMIT 3`);
    expect((await p.drift(ref, updated)).fields).toEqual([{ field: "connection_limit", expected: 7, actual: 3 }]);

    const latin = await p.plan(ref, { ...changed, encoding: "LATIN1" }, updated);
    expect(latin.action).toBe(Action.REPLACE);
    expect(latin.changes.find((c) => c.field === "encoding")?.forcesReplace).toBe(true);
    await p.destroy(ref, updated);
    const replaced = await p.create(ref, { ...changed, encoding: "latin-1" });
    expect((await sql<{ e: string }>("SELECT pg_encoding_to_char(encoding) AS e FROM pg_database WHERE datname = $1", [name]))[0]?.e).toBe("LATIN1");
    // Spelled differently, the same encoding: no drift, no change.
    expect((await p.drift(ref, replaced)).class).toBe(DriftClass.IN_SYNC);

    await p.destroy(ref, replaced);
    expect(await sql("SELECT 1 FROM pg_database WHERE datname = $1", [name])).toEqual([]);
    expect((await p.read(ref, replaced)).found).toBe(false);
    expect((await p.drift(ref, replaced)).class).toBe(DriftClass.GHOST);

    const bad = await rejectionOf(p.create({ name: "bad", type: "postgres.database" }, { name: unique("baddb"), encoding: "KLINGON" }));
    expect(bad.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(bad.message).toContain('bad (postgres.database): field "encoding"');
  });

  it("postgres.role: create, read, empty plan, update in place, a new name replaces, delete; dropped out of band it is a ghost", async () => {
    const name = unique("role");
    const ref = { name: "app-role", type: "postgres.role" };
    const created = await p.create(ref, { name });
    expect(created.providerId).toBe(`role:${name}`);
    const attributes = async () =>
      (await sql<{ oid: number; login: boolean; limit: number }>("SELECT oid::int AS oid, rolcanlogin AS login, rolconnlimit AS limit FROM pg_roles WHERE rolname = $1", [name]))[0];
    const first = await attributes();
    expect(first).toMatchObject({ login: false, limit: -1 });
    expect(outputs(created)).toEqual({ name, oid: first?.oid });
    expect(await p.read(ref, created)).toEqual({ found: true, config: { name, login: false, connection_limit: -1 }, outputs: { name, oid: first?.oid } });
    expect((await p.plan(ref, { name }, created)).action).toBe(Action.NOOP);

    const changed = { name, login: true, connection_limit: 10 };
    const update = await p.plan(ref, changed, created);
    expect(update).toMatchObject({ action: Action.UPDATE, fields: ["connection_limit", "login"] });
    const updated = await p.update(ref, changed, created);
    expect(await attributes()).toEqual({ oid: first?.oid, login: true, limit: 10 });

    await sql(`ALTER ROLE ${ident(name)} CONNECTION LIMIT 5`);
    const drift = await p.drift(ref, updated);
    expect(drift.class).toBe(DriftClass.CONFIG);
    expect(drift.fields).toEqual([{ field: "connection_limit", expected: 10, actual: 5 }]);
    // Planned against what is there now (as the daemon does), the change goes back to the configuration.
    const back = await p.plan(ref, changed, refreshed(updated, (await p.read(ref, updated)).config));
    expect(back.action).toBe(Action.UPDATE);
    expect(back.changes.map((c) => [c.field, decodeJsonValue(c.beforeJson, "before"), decodeJsonValue(c.afterJson, "after")])).toEqual([["connection_limit", 5, 10]]);

    const renamed = await p.plan(ref, { ...changed, name: unique("role2") }, updated);
    expect(renamed.action).toBe(Action.REPLACE);
    expect(renamed.changes.find((c) => c.field === "name")?.forcesReplace).toBe(true);

    await sql(`DROP ROLE ${ident(name)}`);
    expect((await p.read(ref, updated)).found).toBe(false);
    expect((await p.drift(ref, updated)).class).toBe(DriftClass.GHOST);
    await p.destroy(ref, updated); // already gone: nothing to do

    const again = await p.create(ref, changed);
    await p.destroy(ref, again);
    expect(await attributes()).toBeUndefined();

    const bad = await rejectionOf(p.plan(ref, { name, connection_limit: "many" }));
    expect(bad.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(bad.message).toContain('field "connection_limit"');
    const tooLong = await rejectionOf(p.create(ref, { name: "x".repeat(64) }));
    expect(tooLong.message).toContain('app-role (postgres.role): field "name" must be at most 63 bytes');
  });

  it("postgres.role password_env: the role gets the password, a new value plans an update, and the value is never sent back or logged", async () => {
    // The checker agrees with the server's own SCRAM secrets.
    const calibration = unique("scram");
    await sql("SET password_encryption = 'scram-sha-256'");
    await sql(`CREATE ROLE ${ident(calibration)} PASSWORD 'calibrate-me'`);
    expect(scramMatches(await storedSecret(calibration), "calibrate-me")).toBe(true);
    expect(scramMatches(await storedSecret(calibration), "something-else")).toBe(false);

    const name = unique("login");
    const ref = { name: "login-role", type: "postgres.role" };
    const desired = { name, login: true, password_env: PASSWORD_VAR };
    expect((await p.plan(ref, desired)).action).toBe(Action.CREATE);
    const created = await p.create(ref, desired);
    expect(outputs(created)["password_fingerprint"]).toMatch(/^scrypt\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(scramMatches(await storedSecret(name), PASSWORDS[0])).toBe(true);
    const asRole = new pg.Client({ connectionString: urlFor("postgres", { name, password: PASSWORDS[0] }) });
    await asRole.connect();
    expect((await asRole.query<{ u: string }>("SELECT current_user AS u")).rows[0]?.u).toBe(name);
    await asRole.end();

    expect((await p.plan(ref, desired, created)).action).toBe(Action.NOOP);
    const read = await p.read(ref, created);
    expect(read.config).toEqual({ name, login: true, connection_limit: -1, password_env: PASSWORD_VAR });
    expect(read.outputs?.["password_fingerprint"]).toBe(outputs(created)["password_fingerprint"]);
    expect((await p.drift(ref, created)).class).toBe(DriftClass.IN_SYNC);

    // The variable now holds another password (a plugin started with another environment).
    const p2 = driver(await start({ [PASSWORD_VAR]: PASSWORDS[1] }));
    const plan = await p2.plan(ref, desired, created);
    expect(plan.action).toBe(Action.UPDATE);
    expect(plan.changes.map((c) => ({ field: c.field, sensitive: c.sensitive, forcesReplace: c.forcesReplace }))).toEqual([
      { field: "password", sensitive: true, forcesReplace: false },
    ]);
    expect(decodeJsonValue(plan.changes[0]?.beforeJson ?? new Uint8Array(), "before")).toBe("(sensitive)");
    expect(decodeJsonValue(plan.changes[0]?.afterJson ?? new Uint8Array(), "after")).toBe("(sensitive)");

    const updated = await p2.update(ref, desired, created);
    expect(outputs(updated)["password_fingerprint"]).not.toBe(outputs(created)["password_fingerprint"]);
    expect(scramMatches(await storedSecret(name), PASSWORDS[1])).toBe(true);
    expect(scramMatches(await storedSecret(name), PASSWORDS[0])).toBe(false);
    expect((await p2.plan(ref, desired, updated)).action).toBe(Action.NOOP);
    expect((await p.plan(ref, desired, updated)).fields).toEqual(["password"]);

    // Failures with a password in play quote neither it nor the statement.
    const exists = await rejectionOf(p2.create(ref, desired));
    expect(exists.code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(exists.message).toContain("login-role (postgres.role): creating the role:");
    expect(exists.message).not.toMatch(/PASSWORD|SCRAM/);
    const unset = await rejectionOf(p.plan(ref, { ...desired, password_env: `WFT_UNSET_${RUN}` }, updated));
    expect(unset.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(unset.message).toContain(`field "password_env" names the environment variable WFT_UNSET_${RUN}, which is not set`);

    // Without password_env the role has no password.
    const cleared = await p.update(ref, { name, login: true }, updated);
    expect(await storedSecret(name)).toBe("");
    expect(outputs(cleared)["password_fingerprint"]).toBeUndefined();
    await p.destroy(ref, cleared);

    expect(daemonLog.some((l) => l.includes("plugin log") && l.includes("call finished"))).toBe(true);
    for (const password of PASSWORDS) {
      expect(seen.filter((s) => s.includes(password))).toEqual([]);
      expect(daemonLog.filter((l) => l.includes(password))).toEqual([]);
    }
  });

  it("postgres.schema: create in another database, read, empty plan, owner in place, a new name replaces, delete (refused while it holds tables)", async () => {
    const database = unique("schemadb");
    const dbRef = { name: "schemadb", type: "postgres.database" };
    const db = await p.create(dbRef, { name: database });
    const owner = unique("schemaowner");
    await sql(`CREATE ROLE ${ident(owner)} NOLOGIN`);
    const name = unique("reporting");
    const ref = { name: "reporting", type: "postgres.schema" };
    const desired = { name, database };

    const created = await p.create(ref, desired);
    expect(created.providerId).toBe(`schema:${database}/${name}`);
    const schemaRow = async () =>
      (await sql<{ oid: number; owner: string }>("SELECT oid::int AS oid, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1", [name], database))[0];
    const first = await schemaRow();
    expect(first).toBeDefined();
    expect(outputs(created)).toEqual({ name, database, oid: first?.oid });
    expect(await p.read(ref, created)).toMatchObject({ found: true, config: { name, database, force_destroy: false } });
    expect((await p.plan(ref, desired, created)).action).toBe(Action.NOOP);

    const owned = { ...desired, owner };
    expect((await p.plan(ref, owned, created)).fields).toEqual(["owner"]);
    const updated = await p.update(ref, owned, created);
    expect(await schemaRow()).toEqual({ oid: first?.oid, owner });
    await sql(`ALTER SCHEMA ${ident(name)} OWNER TO CURRENT_USER`, [], database);
    const drift = await p.drift(ref, updated);
    expect(drift.class).toBe(DriftClass.CONFIG);
    expect(drift.fields.map((f) => [f.field, f.expected])).toEqual([["owner", owner]]);

    expect((await p.plan(ref, { ...owned, name: unique("other") }, updated)).action).toBe(Action.REPLACE);
    expect((await p.plan(ref, { ...owned, database: unique("otherdb") }, updated)).action).toBe(Action.REPLACE);

    await sql(`CREATE TABLE ${ident(name)}.t (x int)`, [], database);
    const refused = await rejectionOf(p.destroy(ref, updated));
    expect(refused.code).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(refused.message).toContain("reporting (postgres.schema): dropping the schema:");
    const forced = await p.update(ref, { ...owned, force_destroy: true }, updated);
    await p.destroy(ref, forced);
    expect(await schemaRow()).toBeUndefined();
    expect((await p.read(ref, forced)).found).toBe(false);

    // A schema whose database is gone is gone too. The plugin's own pool on the database does not stop its drop.
    await p.destroy(dbRef, db);
    expect((await p.read(ref, created)).found).toBe(false);
    expect((await p.drift(ref, created)).class).toBe(DriftClass.GHOST);
    await p.destroy(ref, created);
  });

  it("postgres.grant on a database: privileges normalised, updated by revoking and granting, read from the ACL; a dropped role is a ghost", async () => {
    const role = unique("grantee");
    const database = unique("grantdb");
    await sql(`CREATE ROLE ${ident(role)} NOLOGIN`);
    await sql(`CREATE DATABASE ${ident(database)}`);
    const ref = { name: "app-connect", type: "postgres.grant" };
    const desired = { role, database, privileges: ["connect", "temp"] };

    expect((await p.plan(ref, desired)).action).toBe(Action.CREATE);
    const created = await p.create(ref, desired);
    expect(created.providerId).toBe(`grant:database:${database}:${role}`);
    expect(await databasePrivileges(role, database)).toEqual(["CONNECT", "TEMPORARY"]);
    expect(await p.read(ref, created)).toMatchObject({ found: true, config: { role, database, object_type: "database", privileges: ["connect", "temp"] } });
    expect((await p.plan(ref, { ...desired, privileges: ["TEMPORARY", "CONNECT"] }, created)).action).toBe(Action.NOOP);
    expect((await p.drift(ref, created)).class).toBe(DriftClass.IN_SYNC);

    const changed = { ...desired, privileges: ["CONNECT", "CREATE"] };
    const update = await p.plan(ref, changed, created);
    expect(update).toMatchObject({ action: Action.UPDATE, fields: ["privileges"] });
    const updated = await p.update(ref, changed, created);
    expect(await databasePrivileges(role, database)).toEqual(["CONNECT", "CREATE"]);

    await sql(`REVOKE CREATE ON DATABASE ${ident(database)} FROM ${ident(role)}`);
    expect((await p.drift(ref, updated)).fields).toEqual([{ field: "privileges", expected: ["CONNECT", "CREATE"], actual: ["CONNECT"] }]);
    const repaired = await p.update(ref, changed, refreshed(updated, (await p.read(ref, updated)).config));
    expect(await databasePrivileges(role, database)).toEqual(["CONNECT", "CREATE"]);

    const moved = await p.plan(ref, { ...changed, role: unique("someoneelse") }, repaired);
    expect(moved.action).toBe(Action.REPLACE);
    expect(moved.changes.find((c) => c.field === "role")?.forcesReplace).toBe(true);

    await p.destroy(ref, repaired);
    expect(await databasePrivileges(role, database)).toEqual([]);

    const again = await p.create(ref, changed);
    await sql(`DROP OWNED BY ${ident(role)}`);
    await sql(`DROP ROLE ${ident(role)}`);
    expect((await p.read(ref, again)).found).toBe(false);
    expect((await p.drift(ref, again)).class).toBe(DriftClass.GHOST);
    await p.destroy(ref, again);

    const bad = await rejectionOf(p.plan(ref, { ...desired, privileges: ["CONNECT", "USAGE"] }));
    expect(bad.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(bad.message).toContain('app-connect (postgres.grant): field "privileges" holds "USAGE", which is not a privilege on a database');
    const missingRole = await rejectionOf(p.create(ref, { ...desired, role: unique("nobody") }));
    expect(missingRole.code).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(missingRole.message).toContain("does not exist");
  });

  it("postgres.grant on a schema: USAGE and CREATE in the schema's database, in place; the schema field is required for it and refused otherwise", async () => {
    const role = unique("schemauser");
    const database = unique("grantschemadb");
    const schema = unique("analytics");
    await sql(`CREATE ROLE ${ident(role)} NOLOGIN`);
    await sql(`CREATE DATABASE ${ident(database)}`);
    await sql(`CREATE SCHEMA ${ident(schema)}`, [], database);
    const ref = { name: "analytics-usage", type: "postgres.grant" };
    const desired = { role, database, object_type: "schema", schema, privileges: ["usage"] };

    const created = await p.create(ref, desired);
    expect(created.providerId).toBe(`grant:schema:${database}/${schema}:${role}`);
    expect(await schemaPrivileges(role, database, schema)).toEqual(["USAGE"]);
    expect((await p.plan(ref, desired, created)).action).toBe(Action.NOOP);

    const changed = { ...desired, privileges: ["ALL"] };
    expect((await p.plan(ref, changed, created)).action).toBe(Action.UPDATE);
    const updated = await p.update(ref, changed, created);
    expect(await schemaPrivileges(role, database, schema)).toEqual(["CREATE", "USAGE"]);
    expect((await p.plan(ref, { ...desired, schema: unique("elsewhere") }, updated)).action).toBe(Action.REPLACE);

    await p.destroy(ref, updated);
    expect(await schemaPrivileges(role, database, schema)).toEqual([]);

    await sql(`DROP SCHEMA ${ident(schema)}`, [], database);
    expect((await p.read(ref, updated)).found).toBe(false);

    const noSchema = await rejectionOf(p.plan(ref, { role, database, object_type: "schema", privileges: ["USAGE"] }));
    expect(noSchema.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(noSchema.message).toContain('field "schema"');
    const stray = await rejectionOf(p.plan(ref, { role, database, schema, privileges: ["CONNECT"] }));
    expect(stray.message).toContain('field "schema" is only for object_type "schema"');
    const kind = await rejectionOf(p.plan(ref, { role, database, object_type: "table", privileges: ["SELECT"] }));
    expect(kind.message).toContain('field "object_type"');
  });

  it("a statement still waiting at the call's deadline fails with DEADLINE_EXCEEDED and is cancelled on the server", async () => {
    const name = unique("slow");
    const ref = { name: "slow-role", type: "postgres.role" };
    const created = await p.create(ref, { name });
    // Another session holds the role's catalog row, so the plugin's ALTER ROLE waits.
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query(`ALTER ROLE ${ident(name)} CONNECTION LIMIT 3`);
      const started = Date.now();
      const err = await rejectionOf(p.update(ref, { name, connection_limit: 4 }, created, new Date(Date.now() + 1500)));
      expect(err.code).toBe(ErrorCode.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(5000);
      await waitFor(
        async () =>
          (await sql("SELECT 1 FROM pg_stat_activity WHERE application_name = 'wfctl-provider-postgres' AND wait_event_type = 'Lock'")).length === 0,
        5000,
        "the plugin's waiting statement to be cancelled on the server",
      );
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    await p.destroy(ref, created);
  });

  it("closes its connections when it stops: its close() ends the pools before the process exits", async () => {
    // Its own user, so that its connections are told apart from every other plugin's.
    const user = unique("closer");
    await sql(`CREATE ROLE ${ident(user)} LOGIN`);
    const connections = async () => (await sql("SELECT 1 FROM pg_stat_activity WHERE usename = $1", [user])).length;
    const s = supervisors.length;
    const instance = await start({}, { url_env: "WFT_PG_URL", user });
    const d = driver(instance);
    expect((await d.read({ name: "r", type: "postgres.role" }, { providerId: "role:x", configJson: encodeJson({ name: user }), outputsJson: encodeJson({}) })).found).toBe(true);
    expect(await connections()).toBeGreaterThan(0);
    // The SDK runs the provider's close() on SIGTERM, which ends the pools (each connection says goodbye) and says so.
    const ended = new Promise<string>((resolve) => instance.onLog((entry) => entry.line.includes("connection pools ended") && resolve(entry.line)));
    await supervisors[s]?.stopAll();
    expect(JSON.parse(await ended)).toMatchObject({ msg: "connection pools ended", pools: 1 });
    await waitFor(async () => (await connections()) === 0, 5000, "the stopped plugin's connections to close");
  });
});

// The kit's out-of-band delete must leave a resource Read cannot find; for a
// grant that means dropping its role or database, which every check of the
// type would share (the kit's names are random, so a grant's role cannot be
// made per check). Grants are covered by the tests above instead.
describe("postgres provider", () => {
  const kitDatabase = unique("kitdb");
  const kitOwner = unique("kitowner");
  const nameOf = (config: JsonObject) => String(config["name"]);
  describeProviderConformance("postgres", {
    resources: {
      "postgres.database": {
        name: "conf-db",
        create: (name) => ({ name: `${name}_${RUN}` }),
        update: (name) => ({ name: `${name}_${RUN}`, connection_limit: 5 }),
        replace: (name) => ({ name: `${name}_${RUN}`, connection_limit: 5, encoding: "LATIN1" }),
        outOfBandDelete: async ({ config }: CreatedResource) => void (await sql(`DROP DATABASE ${ident(nameOf(config))} WITH (FORCE)`)),
        outOfBandChange: async ({ config }: CreatedResource) => {
          await sql(`ALTER DATABASE ${ident(nameOf(config))} CONNECTION LIMIT 9`);
          return { field: "connection_limit", actual: 9 };
        },
      },
      "postgres.role": {
        name: "conf-role",
        create: (name) => ({ name: `${name}_${RUN}` }),
        update: (name) => ({ name: `${name}_${RUN}`, login: true, connection_limit: 3 }),
        replace: (name) => ({ name: `${name}-renamed_${RUN}`, login: true, connection_limit: 3 }),
        outOfBandDelete: async ({ config }: CreatedResource) => void (await sql(`DROP ROLE ${ident(nameOf(config))}`)),
        outOfBandChange: async ({ config }: CreatedResource) => {
          await sql(`ALTER ROLE ${ident(nameOf(config))} CONNECTION LIMIT 7`);
          return { field: "connection_limit", actual: 7 };
        },
      },
      "postgres.schema": {
        name: "conf-schema",
        create: (name) => ({ name, database: kitDatabase }),
        update: (name) => ({ name, database: kitDatabase, owner: kitOwner }),
        replace: (name) => ({ name: `${name}-renamed`, database: kitDatabase, owner: kitOwner }),
        outOfBandDelete: async ({ config }: CreatedResource) => void (await sql(`DROP SCHEMA ${ident(nameOf(config))}`, [], kitDatabase)),
        // No outOfBandChange: the create configuration leaves the owner, its one field changed in place, unmanaged.
      },
    },
    async connect() {
      await sql(`CREATE ROLE ${ident(kitOwner)} NOLOGIN`);
      await sql(`CREATE DATABASE ${ident(kitDatabase)}`);
      const instance = await start({}, undefined);
      return {
        provider: instance.client(IaCProvider),
        driftDetector: instance.client(IaCDriftDetector),
        controller: instance.client(PluginController),
        config: { url_env: "WFT_PG_URL" },
        workingDir: tmpdir(),
      };
    },
  });
});
