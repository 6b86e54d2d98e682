// postgres.role: a role with its login flag, connection limit and, when
// password_env names a variable, a password. The password never enters
// configuration, state, outputs, plans, logs or errors: the server gets its
// SCRAM secret, state a fingerprint that tells a new value from the old.
import { escapeIdentifier, escapeLiteral } from "pg";
import { REDACTED } from "../../proto/redact.js";
import type { AppliedResource, CallContext, FieldMap, JsonObject, PlanResult, PriorResource, ReadResult, ResourceType } from "../sdk/index.js";
import { planFromSchema } from "../sdk/index.js";
import { connectionLimit, describe, sqlName } from "./checks.js";
import type { PostgresServer, Session } from "./connection.js";
import { readIdentity } from "./ids.js";
import { fingerprint, matchesFingerprint, passwordFromEnv, scramSecret } from "./password.js";

const TYPE = "postgres.role";

const fields: FieldMap = {
  name: { type: "string", required: true, forceNew: true, description: "The role's name." },
  login: { type: "bool", default: false, description: "Whether the role may log in (LOGIN); false is NOLOGIN." },
  connection_limit: { type: "number", default: -1, description: "How many connections the role may hold at once; -1 for no limit." },
  password_env: {
    type: "string",
    description: "Name of an environment variable in the plugin's environment holding the role's password. Unset: the role has no password.",
  },
  oid: { type: "number", computed: true, description: "The role's OID." },
  password_fingerprint: {
    type: "string",
    computed: true,
    sensitive: true,
    description: "scrypt fingerprint of the password last set, to notice a new value; never the password.",
  },
};

interface RoleRow {
  oid: number;
  login: boolean;
  connection_limit: number;
}

const find = (session: Session, name: string) =>
  session.first<RoleRow>("reading the role", "SELECT oid::int AS oid, rolcanlogin AS login, rolconnlimit AS connection_limit FROM pg_roles WHERE rolname = $1", [name]);

/**
 * The PASSWORD clause for `config` (empty for none) and the fingerprint to
 * keep: the prior one while the variable still holds the same password.
 */
async function passwordClause(config: JsonObject, prior: PriorResource | undefined, what: string): Promise<{ clause: string; fingerprint?: string }> {
  const password = passwordFromEnv(config, what);
  if (password === undefined) return { clause: prior?.config["password_env"] ? " PASSWORD NULL" : "" };
  const kept = prior?.outputs["password_fingerprint"];
  if (prior && typeof kept === "string" && (await matchesFingerprint(password, kept))) return { clause: "", fingerprint: kept };
  return { clause: ` PASSWORD ${escapeLiteral(await scramSecret(password))}`, fingerprint: await fingerprint(password) };
}

async function apply(
  verb: "CREATE" | "ALTER",
  config: JsonObject,
  prior: PriorResource | undefined,
  resourceName: string,
  server: PostgresServer,
  ctx: CallContext,
): Promise<AppliedResource> {
  const what = describe(resourceName, TYPE);
  const name = sqlName(config, "name", what);
  const limit = connectionLimit(config, what);
  const password = await passwordClause(config, prior, what);
  const attributes = `${config["login"] === true ? "LOGIN" : "NOLOGIN"} CONNECTION LIMIT ${limit}`;
  const doing = verb === "CREATE" ? "creating the role" : "updating the role";
  const oid = await server.session(what, ctx, async (session) => {
    await session.query(doing, `${verb} ROLE ${escapeIdentifier(name)} ${attributes}${password.clause}`);
    return (await find(session, name))?.oid;
  });
  return {
    providerId: `role:${name}`,
    outputs: { name, oid: oid ?? null, ...(password.fingerprint ? { password_fingerprint: password.fingerprint } : {}) },
  };
}

export const roleResource: ResourceType<PostgresServer> = {
  description: "A role (user or group) of the server: login, connection limit, and a password taken from the plugin's environment.",
  fields,
  create: ({ resource, config, provider }, ctx) => apply("CREATE", config, undefined, resource.name, provider, ctx),
  update: ({ resource, config, prior, provider }, ctx) => apply("ALTER", config, prior, resource.name, provider, ctx),
  async read({ resource, prior, provider }, ctx): Promise<ReadResult> {
    const what = describe(resource.name, TYPE);
    const name = sqlName(readIdentity("role", prior, what).config, "name", what);
    const row = await provider.session(what, ctx, (session) => find(session, name));
    if (!row) return { found: false };
    const kept = prior.outputs["password_fingerprint"];
    return {
      found: true,
      providerId: `role:${name}`,
      config: {
        name,
        login: row.login,
        connection_limit: row.connection_limit,
        // The password cannot be read back: what was configured stands.
        ...(prior.config["password_env"] !== undefined ? { password_env: prior.config["password_env"] } : {}),
      },
      outputs: { name, oid: row.oid, ...(kept !== undefined ? { password_fingerprint: kept } : {}) },
    };
  },
  async delete({ resource, prior, provider }, ctx): Promise<void> {
    const what = describe(resource.name, TYPE);
    const name = sqlName(prior.config, "name", what);
    await provider.session(what, ctx, (session) => session.query("dropping the role", `DROP ROLE IF EXISTS ${escapeIdentifier(name)}`));
  },
  /** The schema's plan, plus an update when password_env's variable holds a new password. */
  async plan({ resource, config, prior }): Promise<PlanResult> {
    const what = describe(resource.name, TYPE);
    const planned = planFromSchema(config, prior, fields);
    const password = passwordFromEnv(config, what);
    if (!prior || password === undefined || planned.action === "replace") return planned;
    if (planned.changes.some((c) => c.field === "password_env")) return planned;
    if (await matchesFingerprint(password, prior.outputs["password_fingerprint"])) return planned;
    return {
      action: "update",
      changes: [...planned.changes, { field: "password", before: REDACTED, after: REDACTED, forcesReplace: false, sensitive: true }],
    };
  },
};
