// postgres.grant: privileges one role holds directly on a database or on a
// schema in one. Read from the object's ACL, so it reflects what the role
// actually holds; privileges it has only through PUBLIC or a role it is a
// member of are not its own and do not count.
import { escapeIdentifier } from "pg";
import type { AppliedResource, CallContext, FieldMap, JsonObject, PlanResult, PriorResource, ReadResult, ResourceType } from "../sdk/index.js";
import { ErrorCode, WfctlError, planFromSchema } from "../sdk/index.js";
import { asConfigured, describe, invalid, sqlName } from "./checks.js";
import { type PostgresServer, type Session, missingDatabase } from "./connection.js";
import { readIdentity } from "./ids.js";

const TYPE = "postgres.grant";

/** Privileges each object type takes, as aclexplode names them. */
const PRIVILEGES = {
  database: ["CONNECT", "CREATE", "TEMPORARY"],
  schema: ["CREATE", "USAGE"],
} as const;
type ObjectType = keyof typeof PRIVILEGES;

const fields: FieldMap = {
  role: { type: "string", required: true, forceNew: true, description: "Role the privileges are granted to." },
  database: { type: "string", required: true, forceNew: true, description: "Database granted on, or holding the schema granted on." },
  object_type: { type: "string", default: "database", forceNew: true, description: '"database" or "schema".' },
  schema: { type: "string", forceNew: true, description: 'Schema granted on; required with object_type "schema", refused otherwise.' },
  privileges: {
    type: "list",
    required: true,
    description: "Privileges, any case: CONNECT, CREATE, TEMPORARY (or TEMP) on a database; USAGE, CREATE on a schema; ALL for every one.",
  },
};

/** What a grant is on, checked. */
interface Grant {
  what: string;
  role: string;
  database: string;
  objectType: ObjectType;
  schema: string | undefined;
  /** Upper case, sorted, without repeats. */
  privileges: string[];
  providerId: string;
  /** `DATABASE "app"` or `SCHEMA "reporting"`. */
  object: string;
}

function normalise(value: unknown, objectType: ObjectType, what: string): string[] {
  const known: readonly string[] = PRIVILEGES[objectType];
  if (!Array.isArray(value) || value.length === 0) throw invalid(what, "privileges", `must be a non-empty list of privileges (${known.join(", ")})`);
  const out = new Set<string>();
  for (const item of value) {
    const privilege = typeof item === "string" ? item.trim().toUpperCase().replace(/\s+/g, " ") : "";
    if (privilege === "ALL" || privilege === "ALL PRIVILEGES") known.forEach((p) => out.add(p));
    else if (privilege === "TEMP" && objectType === "database") out.add("TEMPORARY");
    else if (known.includes(privilege)) out.add(privilege);
    else throw invalid(what, "privileges", `holds ${JSON.stringify(item)}, which is not a privilege on a ${objectType} (known: ${known.join(", ")}, ALL)`);
  }
  return [...out].sort();
}

function grantOf(config: JsonObject, resourceName: string): Grant {
  const what = describe(resourceName, TYPE);
  const role = sqlName(config, "role", what);
  const database = sqlName(config, "database", what);
  const objectType = config["object_type"];
  if (objectType !== "database" && objectType !== "schema") {
    throw invalid(what, "object_type", `must be "database" or "schema", got ${JSON.stringify(objectType)}`);
  }
  let schema: string | undefined;
  if (objectType === "schema") schema = sqlName(config, "schema", what);
  else if (config["schema"] !== undefined && config["schema"] !== null) throw invalid(what, "schema", 'is only for object_type "schema"');
  return {
    what,
    role,
    database,
    objectType,
    schema,
    privileges: normalise(config["privileges"], objectType, what),
    providerId: schema === undefined ? `grant:database:${database}:${role}` : `grant:schema:${database}/${schema}:${role}`,
    object: schema === undefined ? `DATABASE ${escapeIdentifier(database)}` : `SCHEMA ${escapeIdentifier(schema)}`,
  };
}

/**
 * Runs `work` connected where the grant's object is: schema grants in their
 * database. `undefined` when that database does not exist.
 */
async function where<T>(grant: Grant, server: PostgresServer, ctx: CallContext, work: (session: Session) => Promise<T>): Promise<T | undefined> {
  try {
    return await server.session(grant.what, ctx, work, grant.schema === undefined ? undefined : grant.database);
  } catch (err) {
    if (missingDatabase(err)) return undefined;
    throw err;
  }
}

/** The privileges the role holds directly on the object, or undefined when the role or the object is gone. */
async function held(session: Session, grant: Grant): Promise<string[] | undefined> {
  const [acl, owner, catalog, column] =
    grant.objectType === "database" ? ["datacl", "datdba", "pg_database", "datname"] : ["nspacl", "nspowner", "pg_namespace", "nspname"];
  const kind = grant.objectType === "database" ? "d" : "n";
  const row = await session.first<{ privileges: string[] }>(
    "reading the privileges",
    `SELECT ARRAY(SELECT DISTINCT a.privilege_type FROM aclexplode(coalesce(o.${acl}, acldefault('${kind}', o.${owner}))) a ` +
      `WHERE a.grantee = r.oid ORDER BY 1) AS privileges FROM pg_roles r CROSS JOIN ${catalog} o WHERE r.rolname = $1 AND o.${column} = $2`,
    [grant.role, grant.schema ?? grant.database],
  );
  return row?.privileges;
}

async function change(session: Session, grant: Grant, verb: "GRANT" | "REVOKE", privileges: readonly string[]): Promise<void> {
  if (privileges.length === 0) return;
  const direction = verb === "GRANT" ? "TO" : "FROM";
  await session.query(`${verb === "GRANT" ? "granting" : "revoking"} ${privileges.join(", ")}`, `${verb} ${privileges.join(", ")} ON ${grant.object} ${direction} ${escapeIdentifier(grant.role)}`);
}

/** Grants what is missing and revokes what is no longer wanted, against what the role holds now. */
async function converge(config: JsonObject, resourceName: string, server: PostgresServer, ctx: CallContext): Promise<AppliedResource> {
  const grant = grantOf(config, resourceName);
  const done = await where(grant, server, ctx, (session) =>
    session.transaction("changing the privileges", async () => {
      const now = (await held(session, grant)) ?? [];
      await change(session, grant, "REVOKE", now.filter((p) => !grant.privileges.includes(p)));
      await change(session, grant, "GRANT", grant.privileges.filter((p) => !now.includes(p)));
      return true;
    }),
  );
  if (!done) throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `${grant.what}: database "${grant.database}" does not exist`);
  return { providerId: grant.providerId, outputs: {} };
}

/** Whether a configured list means exactly `privileges` (normalised). */
function sameSet(configured: unknown, privileges: readonly string[], grant: Grant): boolean {
  try {
    const normalised = normalise(configured, grant.objectType, grant.what);
    return normalised.length === privileges.length && normalised.every((p, i) => p === privileges[i]);
  } catch {
    return false;
  }
}

/** A prior configuration with its privileges normalised, for comparing with a desired one. */
function normalisedPrior(prior: PriorResource | undefined, resourceName: string): PriorResource | undefined {
  if (!prior) return undefined;
  try {
    return { ...prior, config: { ...prior.config, privileges: grantOf(prior.config, resourceName).privileges } };
  } catch {
    return prior;
  }
}

export const grantResource: ResourceType<PostgresServer> = {
  description: "Privileges one role holds on a database, or on a schema in one.",
  fields,
  create: ({ resource, config, provider }, ctx) => converge(config, resource.name, provider, ctx),
  update: ({ resource, config, provider }, ctx) => converge(config, resource.name, provider, ctx),
  async read({ resource, prior, provider }, ctx): Promise<ReadResult> {
    const { config: known, imported } = readIdentity("grant", prior, describe(resource.name, TYPE));
    const grant = grantOf(known, resource.name);
    const privileges = await where(grant, provider, ctx, (session) => held(session, grant));
    // Imported by id: a role holding no privilege there has no grant to adopt.
    if (privileges === undefined || (imported && privileges.length === 0)) return { found: false };
    return {
      found: true,
      providerId: grant.providerId,
      config: {
        role: grant.role,
        database: grant.database,
        object_type: grant.objectType,
        ...(grant.schema !== undefined ? { schema: grant.schema } : {}),
        // Spelled as configured while it means the same.
        privileges: asConfigured(prior.config, "privileges", privileges, (configured) => sameSet(configured, privileges, grant)),
      },
      outputs: {},
    };
  },
  async delete({ resource, prior, provider }, ctx): Promise<void> {
    const grant = grantOf(prior.config, resource.name);
    await where(grant, provider, ctx, async (session) => {
      // A role or object already gone took its privileges with it.
      if ((await held(session, grant)) !== undefined) await change(session, grant, "REVOKE", grant.privileges);
    });
  },
  /** The schema's plan, comparing privileges as sets of upper-case names. */
  async plan({ resource, config, prior }): Promise<PlanResult> {
    const desired = { ...config, privileges: grantOf(config, resource.name).privileges };
    return planFromSchema(desired, normalisedPrior(prior, resource.name), fields);
  },
};
