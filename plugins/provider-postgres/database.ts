// postgres.database: a database of the server, with its owner, encoding and
// connection limit. Created from template0, so that any encoding can be asked
// for and nothing added to template1 comes along.
import { escapeIdentifier, escapeLiteral } from "pg";
import type { AppliedResource, CallContext, FieldMap, JsonObject, ReadResult, ResourceType } from "../sdk/index.js";
import { asConfigured, connectionLimit, describe, invalid, optionalSqlName, sqlName } from "./checks.js";
import type { PostgresServer, Session } from "./connection.js";
import { readIdentity } from "./ids.js";

const TYPE = "postgres.database";

const fields: FieldMap = {
  name: { type: "string", required: true, forceNew: true, description: "The database's name." },
  owner: { type: "string", description: "Role that owns the database (changed in place). Unset: the connecting user, and not managed." },
  encoding: { type: "string", default: "UTF8", forceNew: true, description: "Character set encoding, e.g. UTF8, LATIN1, SQL_ASCII." },
  connection_limit: { type: "number", default: -1, description: "How many connections the database accepts at once; -1 for no limit." },
  oid: { type: "number", computed: true, description: "The database's OID." },
};

interface DatabaseRow {
  oid: number;
  owner: string;
  encoding: string;
  connection_limit: number;
}

/** Encoding names as PostgreSQL compares them: case and punctuation do not count ("utf-8" is UTF8). */
const cleanEncoding = (name: unknown) => String(name).toLowerCase().replace(/[^a-z0-9]/g, "");

const find = (session: Session, name: string) =>
  session.first<DatabaseRow>(
    "reading the database",
    "SELECT oid::int AS oid, pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding, datconnlimit AS connection_limit FROM pg_database WHERE datname = $1",
    [name],
  );

function applied(name: string, row: DatabaseRow | undefined): AppliedResource {
  return { providerId: `database:${name}`, outputs: { name, oid: row?.oid ?? null } };
}

async function create(config: JsonObject, resourceName: string, server: PostgresServer, ctx: CallContext): Promise<AppliedResource> {
  const what = describe(resourceName, TYPE);
  const name = sqlName(config, "name", what);
  const owner = optionalSqlName(config, "owner", what);
  const limit = connectionLimit(config, what);
  const encoding = String(config["encoding"]);
  return server.session(what, ctx, async (session) => {
    const known = await session.first<{ id: number }>("checking the encoding", "SELECT pg_char_to_encoding($1) AS id", [encoding]);
    if (known?.id === -1) throw invalid(what, "encoding", `"${encoding}" is not an encoding PostgreSQL knows (e.g. UTF8, LATIN1, SQL_ASCII)`);
    const ownerClause = owner === undefined ? "" : ` OWNER ${escapeIdentifier(owner)}`;
    await session.query(
      "creating the database",
      `CREATE DATABASE ${escapeIdentifier(name)}${ownerClause} ENCODING ${escapeLiteral(encoding)} TEMPLATE template0 CONNECTION LIMIT ${limit}`,
    );
    return applied(name, await find(session, name));
  });
}

async function update(config: JsonObject, resourceName: string, server: PostgresServer, ctx: CallContext): Promise<AppliedResource> {
  const what = describe(resourceName, TYPE);
  const name = sqlName(config, "name", what);
  const owner = optionalSqlName(config, "owner", what);
  const limit = connectionLimit(config, what);
  return server.session(what, ctx, async (session) => {
    if (owner !== undefined) await session.query("changing the owner", `ALTER DATABASE ${escapeIdentifier(name)} OWNER TO ${escapeIdentifier(owner)}`);
    await session.query("changing the connection limit", `ALTER DATABASE ${escapeIdentifier(name)} CONNECTION LIMIT ${limit}`);
    return applied(name, await find(session, name));
  });
}

export const databaseResource: ResourceType<PostgresServer> = {
  description: "A database of the server: owner, encoding and connection limit.",
  fields,
  create: ({ resource, config, provider }, ctx) => create(config, resource.name, provider, ctx),
  update: ({ resource, config, provider }, ctx) => update(config, resource.name, provider, ctx),
  async read({ resource, prior, provider }, ctx): Promise<ReadResult> {
    const what = describe(resource.name, TYPE);
    const { config: known, imported } = readIdentity("database", prior, what);
    const name = sqlName(known, "name", what);
    const row = await provider.session(what, ctx, (session) => find(session, name));
    if (!row) return { found: false };
    return {
      found: true,
      providerId: `database:${name}`,
      config: {
        name,
        encoding: asConfigured(prior.config, "encoding", row.encoding, (configured, actual) => cleanEncoding(configured) === cleanEncoding(actual)),
        connection_limit: row.connection_limit,
        // An owner left unset is not managed, so not compared (an import reads it: nothing says yet).
        ...(typeof prior.config["owner"] === "string" || imported ? { owner: row.owner } : {}),
      },
      outputs: applied(name, row).outputs,
    };
  },
  async delete({ resource, prior, provider }, ctx): Promise<void> {
    const what = describe(resource.name, TYPE);
    const name = sqlName(prior.config, "name", what);
    // This plugin's own connections to it would keep it from being dropped.
    await provider.forget(name);
    await provider.session(what, ctx, (session) => session.query("dropping the database", `DROP DATABASE IF EXISTS ${escapeIdentifier(name)}`));
  },
};
