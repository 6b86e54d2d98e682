// The postgres backend: state for teams, in a schema it creates and migrates
// itself. Each namespace (environment) keeps its records apart. A lock is a
// row: taken by an insert that fails at once if the row exists, so contention
// never waits, and the row names who holds it, for what, since when. A lock
// left by a holder that died stays visible and is released with
// `wfctl infra state unlock`.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type CheckedOut, checkOut, listenWhileCheckedOut, reportLoss } from "./postgres-clients.js";
import { refusedConnection } from "./postgres-refusals.js";
import { isJsonObject } from "../../proto/json.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  FILTER_KEYS,
  LOCK_ATTEMPTS,
  lockHeldError,
  lockKeptChanging,
  lockOrigin,
  newLock,
  noLockHeld,
  recordJson,
  throwIfAborted,
  unlockRefused,
} from "../../proto/state-store.js";
import type { PostgresSettings } from "./postgres-settings.js";

export { type PostgresSettings, describePostgres, forgetDaemonPgEnvironment, postgresSettings } from "./postgres-settings.js";

/** Schema changes, in order; each runs once, recorded in <schema>.wfctl_migrations. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS {schema}.wfctl_state (
     namespace     text        NOT NULL,
     resource_id   text        NOT NULL,
     resource_type text        NOT NULL,
     provider      text        NOT NULL,
     status        text        NOT NULL,
     record        text        NOT NULL, -- the record JSON exactly as written (jsonb would refuse NUL characters and reorder keys)
     saved_at      timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (namespace, resource_id)
   );
   CREATE TABLE IF NOT EXISTS {schema}.wfctl_locks (
     namespace   text NOT NULL,
     resource_id text NOT NULL,
     lock_id     text NOT NULL,
     holder      text NOT NULL,
     operation   text NOT NULL,
     version     text NOT NULL,
     created_at  text NOT NULL,
     PRIMARY KEY (namespace, resource_id)
   );`,
  // The holder's host and processes, as data (issue 20): liveness is read from them, never from the holder text.
  `ALTER TABLE {schema}.wfctl_locks
     ADD COLUMN IF NOT EXISTS host       text    NOT NULL DEFAULT '',
     ADD COLUMN IF NOT EXISTS pid        integer NOT NULL DEFAULT 0,
     ADD COLUMN IF NOT EXISTS daemon_pid integer NOT NULL DEFAULT 0;`,
];

/** A row of wfctl_locks as read back. */
interface LockRow {
  resource_id: string;
  lock_id: string;
  holder: string;
  operation: string;
  version: string;
  created_at: string;
  host: string;
  pid: number;
  daemon_pid: number;
}

const LOCK_COLUMNS = "resource_id, lock_id, holder, operation, version, created_at, host, pid, daemon_pid";

function lockOfRow(row: LockRow): LockInfo {
  const { resource_id: resourceId, lock_id: lockId, holder, operation, version, created_at: createdAt } = row;
  return { lockId, resourceId, holder, operation, version, createdAt, ...lockOrigin({ host: row.host, pid: row.pid, daemonPid: row.daemon_pid }) };
}

/** Columns a ListStates filter key compares. */
const FILTER_COLUMNS: Record<(typeof FILTER_KEYS)[number], string> = { resource_type: "resource_type", provider: "provider", status: "status" };

/** Shared pools, one per server and schema, kept for the daemon's life. */
const pools = new Map<string, { pool: pg.Pool; ready: Promise<void> }>();

/**
 * The pg driver, loaded with the first postgres store: a daemon that uses
 * none never loads it. Loading it cost every daemon's start 60 ms of CPU, 40
 * of them Node's fetch, which pg loads to ask whether it runs on Cloudflare.
 */
let driver: typeof pg | undefined;
async function loadDriver(): Promise<typeof pg> {
  driver ??= (await import("pg")).default;
  return driver;
}

function unavailable(settings: PostgresSettings, err: unknown): WfctlError {
  if (err instanceof WfctlError) return err;
  const refusal = driver && refusedConnection(settings.describe, settings.refusal, err, driver.DatabaseError);
  if (refusal) return refusal;
  return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `cannot use ${settings.describe}: ${(err as Error).message}`, { cause: err });
}

async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const checkedOut = await checkOut(pool);
  const { client } = checkedOut;
  try {
    await client.query("BEGIN");
    // One migrator at a time across every wfctld sharing the server.
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`wfctl-migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.wfctl_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>(`SELECT COALESCE(MAX(version), 0) AS version FROM ${schema}.wfctl_migrations`);
    const current = rows[0]?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new WfctlError(
        ErrorCode.FAILED_PRECONDITION,
        `schema ${schema} is at version ${current}, newer than this wfctl knows (${MIGRATIONS.length}); upgrade wfctl`,
      );
    }
    for (let v = current + 1; v <= MIGRATIONS.length; v++) {
      await client.query((MIGRATIONS[v - 1] as string).replaceAll("{schema}", schema));
      await client.query(`INSERT INTO ${schema}.wfctl_migrations (version) VALUES ($1)`, [v]);
    }
    await client.query("COMMIT");
  } catch (err) {
    if (!checkedOut.lost()) await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    checkedOut.release();
  }
}

function poolFor(settings: PostgresSettings, Pool: typeof pg.Pool): { pool: pg.Pool; ready: Promise<void> } {
  const key = JSON.stringify([settings.client, settings.schema]);
  let entry = pools.get(key);
  if (!entry) {
    const pool = new Pool({ ...settings.client, max: 10, idleTimeoutMillis: 30_000 });
    // An idle client losing its connection must not crash the daemon; the next query reconnects.
    pool.on("error", (err) => reportLoss(err, `${settings.describe} (an idle connection)`));
    listenWhileCheckedOut(pool, settings.describe);
    const ready = migrate(pool, settings.schema);
    entry = { pool, ready };
    pools.set(key, entry);
    ready.catch(() => pools.delete(key));
  }
  return entry;
}

/** Ends every pool (daemon shutdown, tests). */
export async function closePostgresPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((e) => e.pool.end().catch(() => {})));
}

/** A row of wfctl_state as read back: its key and the record JSON. */
interface StateRow {
  resource_id: string;
  record: string;
}

/**
 * The record in a row, which must be the record of the row's resource_id: a
 * record under another resource's key would be taken for that resource (and
 * the one it names listed twice), so it is refused, never guessed at.
 */
function record(row: StateRow, where: string): ResourceState {
  const what = `${where}: the row with resource_id "${row.resource_id}"`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(row.record);
  } catch (err) {
    throw new WfctlError(ErrorCode.STATE_CORRUPT, `${what}: its record is not valid JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(parsed)) throw new WfctlError(ErrorCode.STATE_CORRUPT, `${what}: its record is not a JSON object`);
  if (parsed["resourceId"] !== row.resource_id) {
    throw new WfctlError(
      ErrorCode.STATE_CORRUPT,
      `${what} holds the record of ${JSON.stringify(parsed["resourceId"] ?? null)}, not of "${row.resource_id}"; nothing was changed. ` +
        `Put the record of "${row.resource_id}" back (from a backup), or delete the row if "${row.resource_id}" does not exist (the next plan then creates it)`,
      { details: [{ field: "resource_id", message: `holds the record of ${JSON.stringify(parsed["resourceId"] ?? null)}, not "${row.resource_id}"` }] },
    );
  }
  return parsed as unknown as ResourceState;
}

export class PostgresStateStore implements StateStore {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly settings: PostgresSettings,
    private readonly namespace: string,
  ) {}

  /** Connects (sharing a pool per server), creating or migrating the schema first. */
  static async open(settings: PostgresSettings, namespace: string, ctx: StoreContext): Promise<PostgresStateStore> {
    throwIfAborted(ctx);
    const { pool, ready } = poolFor(settings, (await loadDriver()).Pool);
    try {
      await ready;
    } catch (err) {
      throw unavailable(settings, err);
    }
    return new PostgresStateStore(pool, settings, namespace);
  }

  private get schema(): string {
    return this.settings.schema;
  }

  /** The table and namespace, for messages about a row. */
  private get where(): string {
    return `${this.settings.describe}, table ${this.schema}.wfctl_state, namespace "${this.namespace}"`;
  }

  /**
   * Runs one statement for a caller that may give up: the query is cancelled
   * on the server (pg_cancel_backend) when the caller's signal aborts.
   */
  private async query<R extends pg.QueryResultRow>(ctx: StoreContext, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    throwIfAborted(ctx);
    let checkedOut: CheckedOut;
    try {
      checkedOut = await checkOut(this.pool);
    } catch (err) {
      throw unavailable(this.settings, err);
    }
    const { client } = checkedOut;
    const pid = (client as unknown as { processID?: number }).processID;
    const onAbort = () => {
      if (pid !== undefined) void this.pool.query("SELECT pg_cancel_backend($1)", [pid]).catch(() => {});
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const result = await client.query<R>(text, values);
      throwIfAborted(ctx);
      return result;
    } catch (err) {
      throwIfAborted(ctx);
      if (err instanceof WfctlError) throw err;
      const code = (err as { code?: string }).code;
      // Connection-level failures (lost mid-query, a server shutting down or
      // terminating the backend): the server is unreachable, not the request wrong.
      if (checkedOut.lost() || code === undefined || code.startsWith("08") || code.startsWith("57P")) throw unavailable(this.settings, err);
      throw new WfctlError(ErrorCode.INTERNAL, `${this.settings.describe}: ${(err as Error).message}`, { cause: err });
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      checkedOut.release();
    }
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    const { rows } = await this.query<StateRow>(ctx, `SELECT resource_id, record FROM ${this.schema}.wfctl_state WHERE namespace = $1 AND resource_id = $2`, [
      this.namespace,
      resourceId,
    ]);
    return rows[0] ? record(rows[0], this.where) : undefined;
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    await this.query(
      ctx,
      `INSERT INTO ${this.schema}.wfctl_state (namespace, resource_id, resource_type, provider, status, record, saved_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (namespace, resource_id) DO UPDATE
         SET resource_type = EXCLUDED.resource_type, provider = EXCLUDED.provider, status = EXCLUDED.status,
             record = EXCLUDED.record, saved_at = EXCLUDED.saved_at`,
      [this.namespace, state.resourceId, state.resourceType, state.provider, state.status, recordJson(state)],
    );
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    const where = ["namespace = $1"];
    const values: unknown[] = [this.namespace];
    for (const [key, value] of Object.entries(filter)) {
      values.push(value);
      where.push(`${FILTER_COLUMNS[key as keyof typeof FILTER_COLUMNS]} = $${values.length}`);
    }
    const { rows } = await this.query<StateRow>(ctx, `SELECT resource_id, record FROM ${this.schema}.wfctl_state WHERE ${where.join(" AND ")} ORDER BY resource_id`, values);
    return rows.map((row) => record(row, this.where));
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    await this.query(ctx, `DELETE FROM ${this.schema}.wfctl_state WHERE namespace = $1 AND resource_id = $2`, [this.namespace, resourceId]);
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    const lock = newLock(resourceId, request, randomUUID());
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      const inserted = await this.query(
        ctx,
        `INSERT INTO ${this.schema}.wfctl_locks (namespace, resource_id, lock_id, holder, operation, version, created_at, host, pid, daemon_pid)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
        [this.namespace, resourceId, lock.lockId, lock.holder, lock.operation, lock.version, lock.createdAt, lock.host ?? "", lock.pid ?? 0, lock.daemonPid ?? 0],
      );
      if (inserted.rowCount === 1) return lock;
      const held = await this.heldLock(resourceId, ctx);
      // Released between the insert and the look: try again.
      if (held) throw lockHeldError(held);
    }
    throw lockKeptChanging(resourceId, `namespace ${this.namespace}`);
  }

  private async heldLock(resourceId: string, ctx: StoreContext): Promise<LockInfo | undefined> {
    const { rows } = await this.query<LockRow>(ctx, `SELECT ${LOCK_COLUMNS} FROM ${this.schema}.wfctl_locks WHERE namespace = $1 AND resource_id = $2`, [
      this.namespace,
      resourceId,
    ]);
    return rows[0] ? lockOfRow(rows[0]) : undefined;
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    const deleted = options?.force
      ? await this.query(ctx, `DELETE FROM ${this.schema}.wfctl_locks WHERE namespace = $1 AND resource_id = $2`, [this.namespace, resourceId])
      : await this.query(ctx, `DELETE FROM ${this.schema}.wfctl_locks WHERE namespace = $1 AND resource_id = $2 AND lock_id = $3`, [this.namespace, resourceId, lockId]);
    if (deleted.rowCount === 1) return;
    const held = await this.heldLock(resourceId, ctx);
    if (!held) throw noLockHeld(resourceId, `namespace ${this.namespace}`);
    throw unlockRefused(resourceId, lockId, held);
  }

  async listLocks(ctx: StoreContext): Promise<LockInfo[]> {
    const { rows } = await this.query<LockRow>(ctx, `SELECT ${LOCK_COLUMNS} FROM ${this.schema}.wfctl_locks WHERE namespace = $1 ORDER BY resource_id`, [this.namespace]);
    return rows.map(lockOfRow);
  }

  /** The pool is shared and stays open for the next operation. */
  async close(): Promise<void> {}
}
