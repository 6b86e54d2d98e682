// How the postgres backend reaches its server, from an iac.state module's
// settings: a URL or its parts, the password from a variable, the PG*
// fallbacks; every variable read from the environment of the wfctl command
// (Target.environment), never the daemon's. And how to say where it is
// without a secret.
import type pg from "pg";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { JsonObject } from "../../proto/json.js";
import { type RefusalSources, refusalSources } from "./postgres-refusals.js";

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** How to reach the server, from an iac.state module's config. */
export interface PostgresSettings {
  /** pg client settings (connection string or fields). */
  client: pg.ClientConfig;
  /** Schema holding wfctl's tables. */
  schema: string;
  /** Where the settings came from, for errors (never the password). */
  describe: string;
  /** What a refused connection names (never a secret). */
  refusal: RefusalSources;
}

function str(config: JsonObject, key: string, where: string): string | undefined {
  const value = config[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new WfctlError(ErrorCode.CONFIG_INVALID, `${where}: field "config.${key}" must be a non-empty string`);
  return value;
}

/** Variables are read from the environment of the wfctl command (Target.environment), never from the daemon's. */
type RequestEnvironment = Readonly<Record<string, string | undefined>>;

function fromEnv(name: string, key: string, where: string, env: RequestEnvironment): string {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `${where}: field "config.${key}" names the environment variable ${name}, which is not set in the environment of the wfctl command`);
  }
  return value;
}

/** PGSSLMODE as pg itself reads it (pg/lib/connection-parameters.js); undefined: pg's default. */
const SSL_MODES: Readonly<Record<string, pg.ClientConfig["ssl"]>> = {
  disable: false,
  prefer: true,
  require: true,
  "verify-ca": true,
  "verify-full": true,
  "no-verify": { rejectUnauthorized: false },
};

/** The PG* variables pg falls back to, as pg.ClientConfig fields: read from the request's environment. */
function pgFallbacks(env: RequestEnvironment): pg.ClientConfig {
  const port = Number(env["PGPORT"]);
  const mode = env["PGSSLMODE"] ?? "";
  const ssl = Object.hasOwn(SSL_MODES, mode) ? SSL_MODES[mode] : undefined;
  return {
    ...(env["PGHOST"] ? { host: env["PGHOST"] } : {}),
    ...(Number.isInteger(port) && port > 0 ? { port } : {}),
    ...(env["PGDATABASE"] ? { database: env["PGDATABASE"] } : {}),
    ...(env["PGUSER"] ? { user: env["PGUSER"] } : {}),
    ...(env["PGPASSWORD"] ? { password: env["PGPASSWORD"] } : {}),
    ...(ssl !== undefined ? { ssl } : {}),
  };
}

/**
 * Removes the PG* variables from the daemon's own environment (wfctld, at
 * start). pg reads them itself for whatever a client configuration leaves
 * unset (a URL without a user, say); a warm daemon must take them only from
 * the request (pgFallbacks), so that one step's credentials never serve another.
 */
export function forgetDaemonPgEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of Object.keys(env)) if (name.startsWith("PG")) delete env[name];
}

/**
 * Where an iac.state module's postgres server is, for people: from the
 * configuration alone (a variable's value is never read or shown; a URL's
 * password is masked).
 */
export function describePostgres(config: JsonObject): string {
  const text = (key: string) => (typeof config[key] === "string" ? config[key] : undefined);
  const schema = text("schema") ?? "wfctl";
  const url = text("url");
  if (url) return `postgres ${redactUrl(url)}, schema ${schema}`;
  const urlEnv = text("url_env");
  if (urlEnv) return `postgres (the URL in ${urlEnv}), schema ${schema}`;
  const port = typeof config["port"] === "number" ? String(config["port"]) : undefined;
  return `postgres ${text("host") ?? "$PGHOST"}:${port ?? "$PGPORT"}/${text("database") ?? "$PGDATABASE"}, schema ${schema}`;
}

/**
 * Reads the postgres settings of an iac.state module. The connection comes from
 * `url` (or `url_env`, the name of an environment variable holding it), or from
 * host/port/database/user; the password from `password_env` (an environment
 * variable's name), never from the file itself. Unset fields fall back to the
 * usual PG* variables. Every variable is read from `env`, the environment of
 * the wfctl command (a warm daemon serves steps with other credentials than
 * its own); wfctld removes the PG* variables from its own environment at
 * start, so pg cannot fall back to them either.
 */
export function postgresSettings(config: JsonObject, where: string, env: RequestEnvironment): PostgresSettings {
  const known = new Set(["url", "url_env", "host", "port", "database", "user", "password_env", "schema", "ssl", "connect_timeout_ms"]);
  for (const key of Object.keys(config)) {
    if (key === "password" || key === "url_password") {
      throw new WfctlError(ErrorCode.CONFIG_INVALID, `${where}: field "config.${key}": passwords are never written in the configuration; put it in an environment variable and name it with password_env`);
    }
    if (!known.has(key)) throw new WfctlError(ErrorCode.CONFIG_INVALID, `${where}: unknown field "config.${key}" for the postgres backend (known: ${[...known].join(", ")})`);
  }
  const schema = str(config, "schema", where) ?? "wfctl";
  if (!IDENTIFIER.test(schema)) throw new WfctlError(ErrorCode.CONFIG_INVALID, `${where}: field "config.schema" must be a lower-case SQL identifier, got "${schema}"`);
  const urlEnv = str(config, "url_env", where);
  const url = str(config, "url", where) ?? (urlEnv ? fromEnv(urlEnv, "url_env", where, env) : undefined);
  const passwordEnv = str(config, "password_env", where);
  const port = config["port"];
  if (port !== undefined && (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `${where}: field "config.port" must be a port number`);
  }
  const ssl = config["ssl"];
  if (ssl !== undefined && typeof ssl !== "boolean") throw new WfctlError(ErrorCode.CONFIG_INVALID, `${where}: field "config.ssl" must be true or false`);
  const timeout = config["connect_timeout_ms"];
  if (timeout !== undefined && (typeof timeout !== "number" || timeout <= 0)) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `${where}: field "config.connect_timeout_ms" must be a positive number`);
  }
  const client: pg.ClientConfig = {
    ...pgFallbacks(env),
    ...(url ? { connectionString: url } : {}),
    ...(str(config, "host", where) ? { host: str(config, "host", where) } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(str(config, "database", where) ? { database: str(config, "database", where) } : {}),
    ...(str(config, "user", where) ? { user: str(config, "user", where) } : {}),
    ...(passwordEnv ? { password: fromEnv(passwordEnv, "password_env", where, env) } : {}),
    ...(ssl !== undefined ? { ssl } : {}),
    connectionTimeoutMillis: typeof timeout === "number" ? timeout : 10_000,
    application_name: "wfctld",
  };
  const target = url ? redactUrl(url) : `${client.host ?? "localhost"}:${client.port ?? 5432}/${client.database ?? ""}`;
  return { client, schema, describe: `postgres ${target}, schema ${schema}`, refusal: refusalSources(config, { url, urlEnv, passwordEnv }, where, env) };
}

/** A connection string without its password. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return "(connection string)";
  }
}
