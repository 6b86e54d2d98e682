// Connections the PostgreSQL server refuses for who asks or what for, told
// apart from an unreachable server: a wrong password, a user it does not let
// in, a database that does not exist. Retrying changes none of these, so each
// gets a code that says so and a message naming the module, the user and the
// configuration field to fix (never a secret).
import type pg from "pg";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { JsonObject } from "../../proto/json.js";

/** What a refused connection names: the module, the user, and where its password and database come from. */
export interface RefusalSources {
  where: string;
  user: string;
  password: string;
  database: string;
}

/** Who connects and where the password and database come from, as a refused connection says it (pg's own precedence: URL, fields, PG* variables). */
export function refusalSources(config: JsonObject, from: { url?: string; urlEnv?: string; passwordEnv?: string }, where: string, env: Readonly<Record<string, string | undefined>>): RefusalSources {
  let fromUrl: URL | undefined;
  try {
    fromUrl = from.url ? new URL(from.url) : undefined;
  } catch {
    fromUrl = undefined;
  }
  const urlField = from.urlEnv ? `the URL of config.url_env (${from.urlEnv})` : "config.url";
  const user = (fromUrl?.username ? decodeURIComponent(fromUrl.username) : undefined) ?? (config["user"] as string | undefined) ?? env["PGUSER"] ?? env["USER"] ?? "";
  const password = from.passwordEnv
    ? `config.password_env (${from.passwordEnv})`
    : fromUrl?.password
      ? urlField
      : env["PGPASSWORD"]
        ? "PGPASSWORD"
        : "none is configured: name its environment variable with config.password_env";
  const database = fromUrl && fromUrl.pathname.length > 1 ? urlField : config["database"] !== undefined ? "config.database" : "PGDATABASE (or the user's name)";
  return { where, user, password, database };
}

/**
 * A connection the server refused for who asked or what for: a wrong password
 * (SQLSTATE 28P01), a user it does not let in (28000: no such role, NOLOGIN,
 * pg_hba.conf), a database that does not exist (3D000). Retrying changes
 * none of these, so they are not STATE_BACKEND_UNAVAILABLE (exit 4, "retrying
 * may help"): PERMISSION_DENIED, and FAILED_PRECONDITION for the database (the
 * configuration may be right, the database not created yet; as the postgres
 * provider says it). `DatabaseError` is pg's class for what a server
 * answered (postgres.ts loads pg only when a postgres store is opened).
 */
export function refusedConnection(describe: string, sources: RefusalSources, err: unknown, DatabaseError: typeof pg.DatabaseError): WfctlError | undefined {
  if (!(err instanceof DatabaseError)) return undefined;
  const { where, user, password, database } = sources;
  const why = `cannot use ${describe}: ${err.message} (SQLSTATE ${err.code})`;
  switch (err.code) {
    case "28P01":
      return new WfctlError(ErrorCode.PERMISSION_DENIED, `${where}: ${why}: the server refused the password of user "${user}" (the password: ${password}); retrying will not help`, { cause: err });
    case "28000":
      return new WfctlError(ErrorCode.PERMISSION_DENIED, `${where}: ${why}: the server does not let user "${user}" in (check the user, its LOGIN right, and the server's pg_hba.conf); retrying will not help`, { cause: err });
    case "3D000":
      return new WfctlError(ErrorCode.FAILED_PRECONDITION, `${where}: ${why}: create the database, or correct the name in ${database}`, { cause: err });
    default:
      return undefined;
  }
}
