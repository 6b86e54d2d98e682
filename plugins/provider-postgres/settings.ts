// The postgres provider's own settings (the iac.provider module's config):
// how to reach the server. Secrets are named, never written: a password comes
// from the environment variable `password_env` names, a URL holding one from
// `url_env`, both read from the plugin's own environment.
import type pg from "pg";
import type { FieldMap, JsonObject } from "../sdk/index.js";
import { BackendConfig } from "../sdk/backend-config.js";

/** Fields of the provider's configuration, as GetSchema declares them. */
export const PROVIDER_CONFIG: FieldMap = {
  url_env: { type: "string", description: "Name of an environment variable holding a postgres:// URL (which may carry the password)." },
  url: { type: "string", description: "A postgres:// URL without a password; refused if it carries one (use url_env or password_env)." },
  host: { type: "string", description: "Server host (or Unix socket directory); overrides the URL's. Unset: the URL's, else PGHOST, else localhost." },
  port: { type: "number", description: "Server port; overrides the URL's. Unset: the URL's, else PGPORT, else 5432." },
  database: { type: "string", description: "Database to connect to; overrides the URL's. Resources in other databases open their own connections." },
  user: { type: "string", description: "User to connect as; overrides the URL's. Unset: the URL's, else PGUSER." },
  password_env: { type: "string", description: "Name of an environment variable holding the password." },
  password: { type: "any", description: "Never set: a literal password is refused; name an environment variable with password_env." },
  ssl: { type: "bool", description: "Use TLS. Unset: the URL's sslmode, else no TLS." },
  connect_timeout_ms: { type: "number", default: 10_000, description: "How long to wait for a connection (ms)." },
};

/** How to reach the server, and how to say so without a secret. */
export interface ConnectionSettings {
  /** pg settings for the configured database. */
  client: pg.ClientConfig;
  /** pg settings for another database of the same server. */
  forDatabase(database: string): pg.ClientConfig;
  /** `postgres host:port/database`, for messages. */
  describe: string;
  /** Who connects and where its password comes from, for a refused connection (never a secret). */
  credentials: string;
}

/** `user "NAME" (password from …)`: what a refused connection names. */
function credentialsOf(user: string | undefined, passwordFrom: string | undefined, env: NodeJS.ProcessEnv): string {
  const who = user ?? env["PGUSER"] ?? env["USER"];
  const password = passwordFrom ?? (env["PGPASSWORD"] ? "PGPASSWORD" : "none configured: name its environment variable with config.password_env");
  return `${who === undefined ? "the default user" : `user "${who}"`}, password: ${password}`;
}

const WHERE = "postgres provider";
const KNOWN = Object.keys(PROVIDER_CONFIG).filter((k) => k !== "password");

function parseUrl(text: string, cfg: BackendConfig, key: string, from: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  // Never echo the value: it may hold the very password.
  if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
    throw cfg.invalid(key, `${from} is not a postgres:// URL`);
  }
  return url;
}

/** Reads and checks the settings; every problem is CONFIG_INVALID naming `config.<field>`. */
export function connectionSettings(config: JsonObject, env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const cfg = new BackendConfig(WHERE, config, KNOWN, { password: "password_env" }, env);
  if (cfg.has("url") && cfg.has("url_env")) throw cfg.invalid("url", "and config.url_env are both set: give one");

  let url: URL | undefined;
  const literal = cfg.string("url");
  if (literal !== undefined) {
    url = parseUrl(literal, cfg, "url", "the value");
    if (url.password !== "") {
      throw cfg.invalid("url", "carries a password, which is never written in the configuration: put the URL in an environment variable and name it with url_env, or name the password's variable with password_env");
    }
  }
  const fromEnv = cfg.secretFromEnv("url_env");
  if (fromEnv) url = parseUrl(fromEnv.value, cfg, "url_env", `the value of ${fromEnv.name}`);

  const port = config["port"];
  if (port !== undefined && port !== null && (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65_535)) {
    throw cfg.invalid("port", `must be a port number (1-65535), got ${JSON.stringify(port)}`);
  }
  const timeout = config["connect_timeout_ms"];
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout <= 0) {
    throw cfg.invalid("connect_timeout_ms", `must be a positive whole number of milliseconds, got ${JSON.stringify(timeout)}`);
  }
  const host = cfg.string("host");
  const database = cfg.string("database");
  const user = cfg.string("user");
  const password = cfg.secretFromEnv("password_env")?.value;
  const common: pg.ClientConfig = {
    ...(cfg.has("ssl") ? { ssl: cfg.boolean("ssl", false) } : {}),
    connectionTimeoutMillis: timeout,
    application_name: "wfctl-provider-postgres",
  };

  if (url) {
    // pg lets a connection string override every other setting, so the
    // fields are written into the URL itself.
    const base = url;
    if (host !== undefined) base.hostname = host;
    if (typeof port === "number") base.port = String(port);
    if (database !== undefined) base.pathname = `/${encodeURIComponent(database)}`;
    if (user !== undefined) base.username = encodeURIComponent(user);
    if (password !== undefined) base.password = encodeURIComponent(password);
    const forDatabase = (db: string): pg.ClientConfig => {
      const other = new URL(base);
      other.pathname = `/${encodeURIComponent(db)}`;
      return { ...common, connectionString: other.toString() };
    };
    const target = `${base.hostname || base.searchParams.get("host") || env["PGHOST"] || "localhost"}:${base.port || env["PGPORT"] || 5432}`;
    const db = decodeURIComponent(base.pathname.slice(1)) || env["PGDATABASE"] || "(default database)";
    const passwordFrom = password !== undefined ? `config.password_env (${String(config["password_env"])})` : base.password ? `the URL of config.url_env (${String(config["url_env"])})` : undefined;
    const credentials = credentialsOf(base.username ? decodeURIComponent(base.username) : undefined, passwordFrom, env);
    return { client: { ...common, connectionString: base.toString() }, forDatabase, describe: `postgres ${target}/${db}`, credentials };
  }

  const client: pg.ClientConfig = {
    ...common,
    ...(host !== undefined ? { host } : {}),
    ...(typeof port === "number" ? { port } : {}),
    ...(database !== undefined ? { database } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
  };
  const target = `${host ?? env["PGHOST"] ?? "localhost"}:${port ?? env["PGPORT"] ?? 5432}`;
  return {
    client,
    forDatabase: (db) => ({ ...client, database: db }),
    describe: `postgres ${target}/${database ?? env["PGDATABASE"] ?? "(default database)"}`,
    credentials: credentialsOf(user, password !== undefined ? `config.password_env (${String(config["password_env"])})` : undefined, env),
  };
}
