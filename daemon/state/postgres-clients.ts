// Clients of the postgres backend's pools, and what becomes of them when the
// server drops their connections: each lost connection is reported (wfctld
// logs it) and fails only the statement it was running, never the process.
import type pg from "pg";

/** Told of each connection to a server that was lost (the daemon logs it); nothing by default. */
export type ConnectionLossSink = (err: Error, where: string) => void;
let sink: ConnectionLossSink = () => {};

/** Where lost connections are reported: wfctld sends them to its log, so the cause of a failed command is there. */
export function reportLostConnections(to: ConnectionLossSink): void {
  sink = to;
}

/** Reports a lost connection to whoever asked (reportLostConnections). */
export function reportLoss(err: Error, where: string): void {
  sink(err, where);
}

/** The error that ended a client's connection while it was checked out. */
const lostClients = new WeakMap<pg.PoolClient, Error>();

/**
 * Listens for 'error' on every client while it is checked out of `pool`. pg
 * emits 'error' on a client whose connection is lost (the server restarted,
 * pg_terminate_backend, a network cut), and with no listener that event ends
 * the process. The pool listens only while a client is idle in it, so a
 * client lost mid-query (3 times in 4 when a server's connections were killed
 * mid-apply) crashed the daemon. The pool's 'acquire' and 'release' events
 * come synchronously as a client leaves and rejoins it: listening from the
 * caller's `await pool.connect()` instead leaves a gap, in which a connection
 * killed just as it was made still crashed the daemon.
 */
export function listenWhileCheckedOut(pool: pg.Pool, where: string): void {
  const listeners = new WeakMap<pg.PoolClient, (err: Error) => void>();
  pool.on("acquire", (client) => {
    const onError = (err: Error) => {
      if (lostClients.has(client)) return;
      lostClients.set(client, err);
      reportLoss(err, where);
    };
    listeners.set(client, onError);
    client.on("error", onError);
  });
  // Emitted once the pool listens again (a lost client is then discarded, still listened to by the pool).
  pool.on("release", (_err: Error | undefined, client: pg.PoolClient) => {
    const onError = listeners.get(client);
    if (onError) client.removeListener("error", onError);
    listeners.delete(client);
  });
}

/** A client checked out of a pool (see listenWhileCheckedOut). */
export interface CheckedOut {
  client: pg.PoolClient;
  /** The connection's error, once it is lost. */
  lost(): Error | undefined;
  /** Back to the pool; a lost client is discarded instead. */
  release(): void;
}

/** A client from `pool`, whose lost connection (if it is lost) is known to the caller and keeps it out of the pool. */
export async function checkOut(pool: pg.Pool): Promise<CheckedOut> {
  const client = await pool.connect();
  return {
    client,
    lost: () => lostClients.get(client),
    release: () => client.release(lostClients.get(client)),
  };
}
