// postgres.schema: a schema in one database of the server (the provider
// connects to that database for it), with its owner. Deleting refuses a
// schema that still holds objects unless force_destroy is set.
import { escapeIdentifier } from "pg";
import type { AppliedResource, CallContext, FieldMap, JsonObject, ReadResult, ResourceType } from "../sdk/index.js";
import { describe, optionalSqlName, sqlName } from "./checks.js";
import { type PostgresServer, type Session, missingDatabase } from "./connection.js";
import { readIdentity } from "./ids.js";

const TYPE = "postgres.schema";

const fields: FieldMap = {
  name: { type: "string", required: true, forceNew: true, description: "The schema's name." },
  database: { type: "string", required: true, forceNew: true, description: "Database the schema is in." },
  owner: { type: "string", description: "Role that owns the schema (changed in place). Unset: the connecting user, and not managed." },
  force_destroy: { type: "bool", default: false, description: "Delete the schema with everything in it (DROP SCHEMA … CASCADE)." },
  oid: { type: "number", computed: true, description: "The schema's OID in its database." },
};

interface SchemaRow {
  oid: number;
  owner: string;
}

const find = (session: Session, name: string) =>
  session.first<SchemaRow>("reading the schema", "SELECT oid::int AS oid, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1", [name]);

function target(config: JsonObject, resourceName: string) {
  const what = describe(resourceName, TYPE);
  return { what, name: sqlName(config, "name", what), database: sqlName(config, "database", what), owner: optionalSqlName(config, "owner", what) };
}

function applied(name: string, database: string, row: SchemaRow | undefined): AppliedResource {
  return { providerId: `schema:${database}/${name}`, outputs: { name, database, oid: row?.oid ?? null } };
}

async function ensure(verb: "CREATE" | "ALTER", config: JsonObject, resourceName: string, server: PostgresServer, ctx: CallContext): Promise<AppliedResource> {
  const { what, name, database, owner } = target(config, resourceName);
  return server.session(
    what,
    ctx,
    async (session) => {
      if (verb === "CREATE") {
        const authorization = owner === undefined ? "" : ` AUTHORIZATION ${escapeIdentifier(owner)}`;
        await session.query("creating the schema", `CREATE SCHEMA ${escapeIdentifier(name)}${authorization}`);
      } else if (owner !== undefined) {
        await session.query("changing the owner", `ALTER SCHEMA ${escapeIdentifier(name)} OWNER TO ${escapeIdentifier(owner)}`);
      }
      return applied(name, database, await find(session, name));
    },
    database,
  );
}

export const schemaResource: ResourceType<PostgresServer> = {
  description: "A schema in a database of the server, with its owner.",
  fields,
  create: ({ resource, config, provider }, ctx) => ensure("CREATE", config, resource.name, provider, ctx),
  update: ({ resource, config, provider }, ctx) => ensure("ALTER", config, resource.name, provider, ctx),
  async read({ resource, prior, provider }, ctx): Promise<ReadResult> {
    const { config: known, imported } = readIdentity("schema", prior, describe(resource.name, TYPE));
    const { what, name, database } = target(known, resource.name);
    let row: SchemaRow | undefined;
    try {
      row = await provider.session(what, ctx, (session) => find(session, name), database);
    } catch (err) {
      if (missingDatabase(err)) return { found: false };
      throw err;
    }
    if (!row) return { found: false };
    return {
      found: true,
      providerId: `schema:${database}/${name}`,
      config: {
        name,
        database,
        force_destroy: prior.config["force_destroy"] ?? false,
        // An owner left unset is not managed, so not compared (an import reads it: nothing says yet).
        ...(typeof prior.config["owner"] === "string" || imported ? { owner: row.owner } : {}),
      },
      outputs: applied(name, database, row).outputs,
    };
  },
  async delete({ resource, prior, provider }, ctx): Promise<void> {
    const { what, name, database } = target(prior.config, resource.name);
    const cascade = prior.config["force_destroy"] === true ? "CASCADE" : "RESTRICT";
    try {
      await provider.session(what, ctx, (session) => session.query("dropping the schema", `DROP SCHEMA IF EXISTS ${escapeIdentifier(name)} ${cascade}`), database);
    } catch (err) {
      // Its database is gone, and the schema with it.
      if (!missingDatabase(err)) throw err;
    }
  },
};
