// Reading a resource by its provider id alone (`wfctl infra import`): the
// prior has an id and no configuration yet, so the names a read needs come
// from the id, in the form this plugin gives ids (`role:NAME`,
// `database:NAME`, `schema:DATABASE/NAME`, `grant:database:DATABASE:ROLE`,
// `grant:schema:DATABASE/SCHEMA:ROLE`; the prefix may be left out).
import { ErrorCode, type JsonObject, type PriorResource, WfctlError } from "../sdk/index.js";

export type PostgresKind = "role" | "database" | "schema" | "grant";

const FORMS: Record<PostgresKind, string> = {
  role: "role:NAME",
  database: "database:NAME",
  schema: "schema:DATABASE/NAME",
  grant: "grant:database:DATABASE:ROLE or grant:schema:DATABASE/SCHEMA:ROLE",
};

/** The names an id of `kind` holds, as configuration fields; undefined when it is not such an id. */
function parseId(kind: PostgresKind, id: string): JsonObject | undefined {
  const bare = id.startsWith(`${kind}:`) ? id.slice(kind.length + 1) : id;
  if (bare === "") return undefined;
  switch (kind) {
    case "role":
    case "database":
      return { name: bare };
    case "schema": {
      const slash = bare.indexOf("/");
      return slash > 0 && slash < bare.length - 1 ? { database: bare.slice(0, slash), name: bare.slice(slash + 1) } : undefined;
    }
    case "grant": {
      const match = /^(database|schema):([^:/]+)(?:\/([^:]+))?:(.+)$/.exec(bare);
      if (!match || (match[1] === "schema") !== (match[3] !== undefined)) return undefined;
      const [, objectType, database, schema, role] = match;
      // The privileges are what the read finds; the grant's checks need some to name the object.
      return { object_type: objectType ?? "", database: database ?? "", role: role ?? "", ...(schema ? { schema } : {}), privileges: ["ALL"] };
    }
  }
}

/**
 * The configuration a read of `kind` works from: the record's, or, when
 * there is none yet (an import by id), the names the id holds; `imported`
 * says which (an import reads every field it can, since nothing says which
 * the configuration manages).
 */
export function readIdentity(kind: PostgresKind, prior: PriorResource, what: string): { config: JsonObject; imported: boolean } {
  if (Object.keys(prior.config).length > 0 || prior.providerId === "") return { config: prior.config, imported: false };
  const config = parseId(kind, prior.providerId);
  if (!config) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${what}: provider id "${prior.providerId}" is not a postgres.${kind} id (${FORMS[kind]})`);
  return { config, imported: true };
}
