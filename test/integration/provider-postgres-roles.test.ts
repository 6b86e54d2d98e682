// The postgres provider plugin as a process, and its roles: the built-in
// catalog entry and its schema, Configure refusing literal passwords and bad
// settings, postgres.role (attributes, drift, replacement, password_env with
// the server's SCRAM secret checked and no password ever sent back or logged),
// a statement cancelled at the call's deadline, and the pools closed when the
// process stops. Databases, schemas and grants are in
// provider-postgres-objects.test.ts; the conformance kit in
// provider-postgres-conformance.test.ts. Every name carries this file's run
// id; everything is dropped after (test/helpers/postgres-provider.ts).
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { ErrorCode } from "../../proto/errors.js";
import { Action, DriftClass, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { POSTGRES_PLUGIN_BIN as BIN, type ProviderDriver, ident, outputs, refreshed, scramMatches, usePostgresProvider } from "../helpers/postgres-provider.js";
import { waitFor } from "../helpers/processes.js";

const { RUN, unique, url, supervisors, daemonLog, seen, recorded, start, driver, sql, urlFor, storedSecret } = usePostgresProvider();
const PASSWORD_VAR = "WFT_ROLE_PASSWORD";
const PASSWORDS = [`pw-one-${randomBytes(12).toString("hex")}`, `pw-two-${randomBytes(12).toString("hex")}`] as const;

describe("postgres provider plugin", () => {
  let p: ProviderDriver;
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

  it("a statement still waiting at the call's deadline fails with DEADLINE_EXCEEDED and is cancelled on the server", async () => {
    const name = unique("slow");
    const ref = { name: "slow-role", type: "postgres.role" };
    const created = await p.create(ref, { name });
    // Another session holds the role's catalog row, so the plugin's ALTER ROLE waits.
    const holder = new pg.Client({ connectionString: url() });
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
