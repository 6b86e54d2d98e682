// The postgres provider plugin as its integration tests run it: the built
// bundle as a real process over gRPC under supervisors of the test file's own,
// against the PostgreSQL server vitest's global setup started, checked from the
// server's own catalogs. `usePostgresProvider()` gives a test file its own run
// id (every name it makes carries it), its own supervisors and logs, and drops
// everything named with its run id after its last test.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, inject } from "vitest";
import { type PluginSpec, PluginCatalog } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { Action, type DriftClass, type FieldChange, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, type JsonValue, decodeJsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { ROOT } from "./paths.js";

/** The plugin's bundle, as the built-in catalog runs it. */
export const POSTGRES_PLUGIN_BIN = join(ROOT, "plugins", "provider-postgres", "dist", "wfctl-provider-postgres.mjs");

export type Ref = { name: string; type: string };
export type Prior = { providerId: string; configJson: Uint8Array; outputsJson: Uint8Array };

export interface Planned {
  action: Action;
  fields: string[];
  changes: FieldChange[];
}

export type ReadResult = { found: true; config: JsonObject; outputs: JsonObject } | { found: false; config?: undefined; outputs?: undefined };

export interface Drift {
  class: DriftClass | undefined;
  fields: { field: string; expected: JsonValue | undefined; actual: JsonValue | undefined }[];
}

/** The provider calls of one plugin process, every answer remembered. */
export interface ProviderDriver {
  plan(ref: Ref, desired: JsonObject, prior?: Prior): Promise<Planned>;
  create(ref: Ref, desired: JsonObject): Promise<Prior>;
  update(ref: Ref, desired: JsonObject, prior: Prior, deadline?: Date): Promise<Prior>;
  destroy(ref: Ref, prior: Prior): Promise<void>;
  read(ref: Ref, prior: Prior): Promise<ReadResult>;
  drift(ref: Ref, prior: Prior): Promise<Drift>;
}

export const outputs = (prior: Prior): JsonObject => decodeJsonObject(prior.outputsJson, "outputs");
/** A prior as the daemon plans with it after a refresh: the configuration read now. */
export const refreshed = (prior: Prior, config: JsonObject | undefined): Prior => ({ ...prior, configJson: encodeJson(config ?? {}) });

export const ident = (name: string): string => pg.escapeIdentifier(name);

/** Whether a SCRAM-SHA-256 secret as PostgreSQL stores it was made from `password` (RFC 5802). */
export function scramMatches(secret: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(secret);
  if (!m) return false;
  const salted = pbkdf2Sync(password, Buffer.from(m[2] as string, "base64"), Number(m[1]), 32, "sha256");
  const hmac = (text: string) => createHmac("sha256", salted).update(text).digest();
  return createHash("sha256").update(hmac("Client Key")).digest("base64") === m[3] && hmac("Server Key").toString("base64") === m[4];
}

/** One test file's plugins, server connection and names. */
export interface PostgresProviderHarness {
  /** This file's run id, the suffix of every name it makes. */
  readonly RUN: string;
  /** A name unique to this file's run: `wft_<what>_<run>`. */
  unique(what: string): string;
  /** The server's URL (known once the file's first hook has run). */
  url(): string;
  /** Every supervisor `start` made, in order; all are stopped after the file's last test. */
  readonly supervisors: PluginSupervisor[];
  /** Everything the daemon side logged, plugin stderr included (the supervisor copies every line). */
  readonly daemonLog: string[];
  /** Every response and error the plugin sent, as text. */
  readonly seen: string[];
  /** `call`, its answer or error remembered in `seen`. */
  recorded<T>(call: Promise<T>): Promise<T>;
  /**
   * A plugin process, configured with `config` before it is handed out. An
   * undefined `config` takes the default parameter, `{ url_env: "WFT_PG_URL" }`
   * (JavaScript defaults apply to undefined), so every process is configured.
   */
  start(env?: Record<string, string>, config?: JsonObject): Promise<PluginInstance>;
  driver(instance: PluginInstance): ProviderDriver;
  /** A query as the server's admin, in `database` (on a connection of its own) or else on the admin connection. */
  sql<R extends pg.QueryResultRow>(text: string, values?: unknown[], database?: string): Promise<R[]>;
  urlFor(database: string, user?: { name: string; password: string }): string;
  /** The role's password as the server stores it; "" for none. */
  storedSecret(role: string): Promise<string>;
  databasePrivileges(role: string, database: string): Promise<string[]>;
  schemaPrivileges(role: string, database: string, schema: string): Promise<string[]>;
}

/**
 * Registers, in the calling test file, the hooks that connect to the server
 * before its tests and, after them, stop its plugins and drop every database
 * and role named with its run id.
 */
export function usePostgresProvider(): PostgresProviderHarness {
  const RUN = randomBytes(4).toString("hex");
  const unique = (what: string) => `wft_${what}_${RUN}`;
  let url = "";
  let admin: pg.Client | undefined;
  const supervisors: PluginSupervisor[] = [];
  const daemonLog: string[] = [];
  const seen: string[] = [];

  function remember(value: unknown): void {
    if (value instanceof Uint8Array) seen.push(Buffer.from(value).toString("utf8"));
    else if (typeof value === "string") seen.push(value);
    else if (Array.isArray(value)) value.forEach(remember);
    else if (value !== null && typeof value === "object") Object.values(value).forEach(remember);
  }

  async function recorded<T>(call: Promise<T>): Promise<T> {
    try {
      const result = await call;
      remember(result);
      return result;
    } catch (err) {
      remember((err as Error).message);
      remember((err as { details?: unknown }).details);
      throw err;
    }
  }

  function spec(env: Record<string, string>): PluginSpec {
    return {
      name: "postgres",
      kind: "provider",
      executable: process.execPath,
      args: [POSTGRES_PLUGIN_BIN],
      env: { WFT_PG_URL: url, WFCTL_PLUGIN_LOG_LEVEL: "debug", ...env },
      source: "test",
    };
  }

  async function start(env: Record<string, string> = {}, config: JsonObject | undefined = { url_env: "WFT_PG_URL" }): Promise<PluginInstance> {
    const log = pino({ level: "debug" }, { write: (line: string) => void daemonLog.push(line) });
    const s = new PluginSupervisor(new PluginCatalog([spec(env)]), log);
    supervisors.push(s);
    return s.acquire(s.catalog.get("provider", "postgres"), "k", async (i) => {
      if (config) await recorded(i.client(IaCProvider).configure({ configJson: encodeJson(config), workingDir: tmpdir() }));
    });
  }

  function driver(instance: PluginInstance): ProviderDriver {
    const provider = () => instance.client(IaCProvider);
    const priorOf = (r: { providerId: string; appliedConfigJson: Uint8Array; outputsJson: Uint8Array }): Prior => ({
      providerId: r.providerId,
      configJson: r.appliedConfigJson,
      outputsJson: r.outputsJson,
    });
    return {
      async plan(ref, desired, prior) {
        const r = await recorded(provider().plan({ resource: ref, desiredConfigJson: encodeJson(desired), ...(prior ? { prior } : {}) }));
        return { action: r.action, fields: r.changes.map((c) => c.field), changes: r.changes };
      },
      create: async (ref, desired) =>
        priorOf(await recorded(provider().apply({ resource: ref, action: Action.CREATE, desiredConfigJson: encodeJson(desired) }))),
      update: async (ref, desired, prior, deadline) =>
        priorOf(await recorded(provider().apply({ resource: ref, action: Action.UPDATE, desiredConfigJson: encodeJson(desired), prior }, deadline ? { deadline } : {}))),
      async destroy(ref, prior) {
        await recorded(provider().apply({ resource: ref, action: Action.DELETE, prior }));
      },
      async read(ref, prior) {
        const r = await recorded(provider().read({ resource: ref, prior }));
        return r.found ? { found: true, config: decodeJsonObject(r.configJson, "config"), outputs: decodeJsonObject(r.outputsJson, "outputs") } : { found: false };
      },
      async drift(ref, prior) {
        const r = (await recorded(instance.client(IaCDriftDetector).detectDrift({ resource: ref, prior }))).result;
        const fields = (r?.fields ?? []).map((f) => ({
          field: f.field,
          expected: decodeJsonValue(f.expectedJson, "expected"),
          actual: decodeJsonValue(f.actualJson, "actual"),
        }));
        return { class: r?.class, fields };
      },
    };
  }

  function connected(): pg.Client {
    if (!admin) throw new Error("the postgres provider harness is used before its beforeAll hook connected it");
    return admin;
  }

  async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], database?: string): Promise<R[]> {
    if (database === undefined) return (await connected().query<R>(text, values)).rows;
    const client = new pg.Client({ connectionString: urlFor(database) });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  function urlFor(database: string, user?: { name: string; password: string }): string {
    const u = new URL(url);
    u.pathname = `/${database}`;
    if (user) {
      u.username = user.name;
      u.password = encodeURIComponent(user.password);
    }
    return u.toString();
  }

  async function storedSecret(role: string): Promise<string> {
    const [row] = await sql<{ secret: string | null }>("SELECT rolpassword AS secret FROM pg_authid WHERE rolname = $1", [role]);
    return row?.secret ?? "";
  }

  async function databasePrivileges(role: string, database: string): Promise<string[]> {
    const [row] = await sql<{ p: string[] }>(
      "SELECT ARRAY(SELECT DISTINCT a.privilege_type FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $2 AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1) AS p",
      [role, database],
    );
    return row?.p ?? [];
  }

  async function schemaPrivileges(role: string, database: string, schema: string): Promise<string[]> {
    const [row] = await sql<{ p: string[] }>(
      "SELECT ARRAY(SELECT DISTINCT a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = $2 AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1) AS p",
      [role, schema],
      database,
    );
    return row?.p ?? [];
  }

  beforeAll(async () => {
    url = inject("postgresUrl");
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });

  afterAll(async () => {
    await Promise.all(supervisors.map((s) => s.stopAll()));
    for (const { datname } of await sql<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [`%\\_${RUN}`])) {
      await sql(`DROP DATABASE IF EXISTS ${ident(datname)} WITH (FORCE)`);
    }
    for (const { rolname } of await sql<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", [`%\\_${RUN}`])) {
      await sql(`DROP OWNED BY ${ident(rolname)}`);
      await sql(`DROP ROLE ${ident(rolname)}`);
    }
    await connected().end();
  });

  return {
    RUN,
    unique,
    url: () => url,
    supervisors,
    daemonLog,
    seen,
    recorded,
    start,
    driver,
    sql,
    urlFor,
    storedSecret,
    databasePrivileges,
    schemaPrivileges,
  };
}
