// The postgres provider plugin's objects besides roles, over gRPC against a
// real PostgreSQL server and checked from its catalogs: postgres.database
// (owner, connection limit, encoding), postgres.schema (in another database,
// force_destroy) and postgres.grant on databases and schemas (privileges read
// from the ACLs). Roles, Configure and the plugin process are in
// provider-postgres-roles.test.ts; the conformance kit in
// provider-postgres-conformance.test.ts. Every name carries this file's run
// id; everything is dropped after (test/helpers/postgres-provider.ts).
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../proto/errors.js";
import { Action, DriftClass } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { rejectionOf } from "../helpers/errors.js";
import { type ProviderDriver, ident, outputs, refreshed, usePostgresProvider } from "../helpers/postgres-provider.js";

const { unique, start, driver, sql, databasePrivileges, schemaPrivileges } = usePostgresProvider();

describe("postgres provider plugin", () => {
  let p: ProviderDriver;
  beforeAll(async () => {
    // No password in its environment: nothing here sets one.
    p = driver(await start());
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
});
