// Talking to the server: one pg pool per database the provider touches, and
// sessions whose statements honour the call's cancellation and deadline (a
// statement still running when the call is cancelled is cancelled on the
// server too) and whose failures become WfctlErrors that name the resource
// and never quote a statement.
import pg from "pg";
import { abortError } from "../../proto/errors.js";
import { type CallContext, ErrorCode, WfctlError } from "../sdk/index.js";
import type { ConnectionSettings } from "./settings.js";

/** Connections each pool may hold: resource calls are few and short. */
const POOL_SIZE = 4;
/** Slack past the server-side statement timeout before the client gives up on a silent server. */
const CLIENT_TIMEOUT_SLACK_MS = 2_000;

/** SQLSTATE classes and codes, and the wfctl code each failure travels as. */
const CODE_OF_SQLSTATE: Record<string, ErrorCode> = {
  "28000": ErrorCode.PERMISSION_DENIED, // invalid_authorization_specification
  "28P01": ErrorCode.PERMISSION_DENIED, // invalid_password
  "42501": ErrorCode.PERMISSION_DENIED, // insufficient_privilege
  "42710": ErrorCode.ALREADY_EXISTS, // duplicate_object (a role)
  "42P04": ErrorCode.ALREADY_EXISTS, // duplicate_database
  "42P06": ErrorCode.ALREADY_EXISTS, // duplicate_schema
  "42704": ErrorCode.FAILED_PRECONDITION, // undefined_object (a role that is not there)
  "3D000": ErrorCode.FAILED_PRECONDITION, // invalid_catalog_name (no such database)
  "3F000": ErrorCode.FAILED_PRECONDITION, // invalid_schema_name
  "2BP01": ErrorCode.FAILED_PRECONDITION, // dependent_objects_still_exist
  "55006": ErrorCode.FAILED_PRECONDITION, // object_in_use
  "53300": ErrorCode.FAILED_PRECONDITION, // too_many_connections
};

/** SQLSTATEs of a connection refused for who asked or what for (password, user, database): no retry helps. */
const REFUSED_CONNECTION = new Set(["28000", "28P01", "3D000"]);

/** The SQLSTATE behind a failure from this module, if the server sent one. */
export function sqlState(err: unknown): string | undefined {
  const cause = err instanceof WfctlError ? err.cause : err;
  return cause instanceof pg.DatabaseError ? cause.code : undefined;
}

/**
 * The WfctlError for a failed statement or connection: `<what>: <doing>:
 * <server message>`, with the server's detail and hint. pg errors carry no
 * statement text, and none is added.
 */
function failure(err: unknown, what: string, doing: string, signal: AbortSignal, server: string, credentials?: string): WfctlError {
  if (signal.aborted) {
    const e = abortError(signal);
    return new WfctlError(e.code, `${what}: ${doing}: ${e.message}`, { cause: e.cause });
  }
  if (err instanceof WfctlError) return err;
  if (!(err instanceof pg.DatabaseError)) {
    // No SQLSTATE: the server was not reached or stopped answering.
    const message = err instanceof Error ? err.message : String(err);
    const silent = message === "Query read timeout";
    const why = silent ? "the server did not answer before the call's deadline" : message;
    return new WfctlError(silent ? ErrorCode.DEADLINE_EXCEEDED : ErrorCode.PROVIDER_ERROR, `${what}: ${doing}: cannot use ${server}: ${why}`, { cause: err });
  }
  const state = err.code ?? "";
  if (state === "57014") {
    // query_canceled: by the statement timeout the deadline set, or by someone else.
    const code = /statement timeout/.test(err.message) ? ErrorCode.DEADLINE_EXCEEDED : ErrorCode.CANCELLED;
    return new WfctlError(code, `${what}: ${doing}: ${err.message}`, { cause: err });
  }
  const extra = [err.detail ? `detail: ${err.detail}` : "", err.hint ? `hint: ${err.hint}` : ""].filter(Boolean).join("; ");
  const code = CODE_OF_SQLSTATE[state] ?? ErrorCode.PROVIDER_ERROR;
  if (credentials !== undefined && REFUSED_CONNECTION.has(state)) {
    // Refused for who connects or to what: say which server, as whom, and where the password comes from.
    const why = state === "3D000" ? "create the database, or correct config.database (or the URL's)" : `as ${credentials}; retrying will not help`;
    return new WfctlError(code, `${what}: ${doing}: ${server} refused the connection: ${err.message} (SQLSTATE ${state}${extra ? `; ${extra}` : ""}): ${why}`, { cause: err });
  }
  return new WfctlError(code, `${what}: ${doing}: ${err.message} (SQLSTATE ${state}${extra ? `; ${extra}` : ""})`, { cause: err });
}

/** What a session needs of a call: its cancellation and deadline. */
export type CallLimits = Pick<CallContext, "signal" | "deadline">;

/** Whether a failure is a connection to a database that does not exist. */
export function missingDatabase(err: unknown): boolean {
  return sqlState(err) === "3D000";
}

/** One connection, checked out for one call, for one resource. */
export class Session {
  constructor(
    private readonly client: pg.PoolClient,
    private readonly what: string,
    private readonly ctx: CallLimits,
    private readonly server: string,
    private readonly cancelOnServer: () => void,
  ) {}

  /**
   * Runs one statement. `doing` says what it is for in errors ("creating the
   * role"); the statement itself is never logged nor put in an error.
   */
  async query<R extends pg.QueryResultRow>(doing: string, text: string, values: unknown[] = []): Promise<R[]> {
    const { signal, deadline } = this.ctx;
    if (signal.aborted) throw failure(undefined, this.what, doing, signal, this.server);
    const onAbort = () => this.cancelOnServer();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const timeout = deadline ? Math.max(1, deadline.getTime() - Date.now()) + CLIENT_TIMEOUT_SLACK_MS : undefined;
      const result = await this.client.query<R>({ text, values, ...(timeout ? { query_timeout: timeout } : {}) });
      if (signal.aborted) throw failure(undefined, this.what, doing, signal, this.server);
      return result.rows;
    } catch (err) {
      throw failure(err, this.what, doing, signal, this.server);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** The first row of a statement's result, or undefined. */
  async first<R extends pg.QueryResultRow>(doing: string, text: string, values: unknown[] = []): Promise<R | undefined> {
    return (await this.query<R>(doing, text, values))[0];
  }

  /** Runs `work` in a transaction: committed if it returns, rolled back if it throws. */
  async transaction<T>(doing: string, work: () => Promise<T>): Promise<T> {
    await this.query(doing, "BEGIN");
    try {
      const result = await work();
      await this.query(doing, "COMMIT");
      return result;
    } catch (err) {
      await this.client.query("ROLLBACK").catch(() => {});
      throw err;
    }
  }
}

/**
 * A connection from `pool`, or a rejection as soon as `signal` aborts (pg's
 * connect takes no signal); a connection that arrives after that goes back.
 */
function connectUnlessAborted(pool: pg.Pool, signal: AbortSignal): Promise<pg.PoolClient> {
  const connecting = pool.connect();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      connecting.then((client) => client.release(), () => {});
    };
    signal.addEventListener("abort", onAbort, { once: true });
    connecting.then(
      (client) => {
        signal.removeEventListener("abort", onAbort);
        // Aborted already: onAbort has given it back.
        if (!signal.aborted) resolve(client);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** The server a provider instance is configured for: its pools, one per database. */
export class PostgresServer {
  private readonly pools = new Map<string, pg.Pool>();

  constructor(readonly settings: ConnectionSettings) {}

  private pool(database: string | undefined): pg.Pool {
    const key = database ?? "";
    let pool = this.pools.get(key);
    if (!pool) {
      const config = database === undefined ? this.settings.client : this.settings.forDatabase(database);
      pool = new pg.Pool({ ...config, max: POOL_SIZE, idleTimeoutMillis: 30_000 });
      // An idle connection that breaks must not crash the plugin; the next call reconnects.
      pool.on("error", () => {});
      this.pools.set(key, pool);
    }
    return pool;
  }

  /**
   * Runs `work` with a connection to `database` (the configured one when
   * undefined). The session's statements time out on the server at the
   * call's deadline, and are cancelled there when the call is.
   */
  async session<T>(what: string, ctx: CallLimits, work: (session: Session) => Promise<T>, database?: string): Promise<T> {
    const doing = database === undefined ? "connecting" : `connecting to database "${database}"`;
    if (ctx.signal.aborted) throw failure(undefined, what, doing, ctx.signal, this.settings.describe);
    let client: pg.PoolClient;
    try {
      client = await connectUnlessAborted(this.pool(database), ctx.signal);
    } catch (err) {
      throw failure(err, what, doing, ctx.signal, this.settings.describe, this.settings.credentials);
    }
    let pid: number | undefined;
    let broken = false;
    const session = new Session(client, what, ctx, this.settings.describe, () => {
      broken = true;
      if (pid !== undefined) this.pool(undefined).query("SELECT pg_cancel_backend($1)", [pid]).catch(() => {});
    });
    try {
      const ms = ctx.deadline ? Math.max(1, ctx.deadline.getTime() - Date.now()) : 0;
      const row = await session.first<{ pid: number }>("preparing the session", "SELECT pg_backend_pid() AS pid, set_config('statement_timeout', $1, false)", [String(ms)]);
      pid = row?.pid;
      return await work(session);
    } catch (err) {
      broken = true;
      throw err;
    } finally {
      // A connection that failed or was cancelled mid-statement is not reused.
      if (broken) client.release(true);
      else {
        await client.query("RESET statement_timeout").then(
          () => client.release(),
          (err: Error) => client.release(err),
        );
      }
    }
  }

  /** Ends the pool of `database`, so that it can be dropped. */
  async forget(database: string): Promise<void> {
    const pool = this.pools.get(database);
    this.pools.delete(database);
    await pool?.end().catch(() => {});
  }

  /** Ends every pool (each idle connection sends its Terminate message); resolves with how many there were. */
  async end(): Promise<number> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.end().catch(() => {})));
    return all.length;
  }
}
