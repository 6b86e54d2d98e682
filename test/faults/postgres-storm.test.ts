// The postgres state store under a storm of killed connections: a real
// PostgreSQL terminates every connection of the store's pool every few
// milliseconds while ten writers save records. A connection killed as it is
// made, mid-query or idle must fail only the statement it carried, as
// STATE_BACKEND_UNAVAILABLE, never as an 'error' event nobody listens to (the
// process's end, in the daemon). Listening from the caller's
// `await pool.connect()` left a gap: 73 unhandled errors in 8 s of this storm.
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { ResourceState } from "../../proto/state-store.js";
import { PostgresStateStore, closePostgresPools, postgresSettings } from "../../daemon/state/postgres.js";
import { reportLostConnections } from "../../daemon/state/postgres-clients.js";
import { createDatabase } from "../servers/postgres.js";

const DATABASE = "wfctl_faults_pg_storm";
const STORM_MS = 5000;
const WRITERS = 10;

function record(id: string): ResourceState {
  const now = new Date().toISOString();
  return { resourceId: id, resourceType: "t.x", provider: "p", status: "ready", outputs: {}, config: { n: id }, createdAt: now, updatedAt: now, error: "", providerId: id, protected: false, dependsOn: [] };
}

describe("the postgres store when the server kills its connections", () => {
  afterAll(() => closePostgresPools());

  it("fails only the statements in flight, as STATE_BACKEND_UNAVAILABLE, and reports each loss; no 'error' goes unhandled", { timeout: 60_000 }, async () => {
    const url = await createDatabase(inject("postgresUrl"), DATABASE);
    const lost: string[] = [];
    reportLostConnections((err) => lost.push(err.message));
    const unhandled: unknown[] = [];
    const onUncaught = (err: unknown) => unhandled.push(err);
    process.on("uncaughtException", onUncaught);
    const ctx = { signal: new AbortController().signal };
    const store = await PostgresStateStore.open(postgresSettings({ url }, "test", {}), "storm", ctx);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const until = Date.now() + STORM_MS;
      let kills = 0;
      const storm = (async () => {
        while (Date.now() < until) {
          const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'wfctld' AND datname = $1", [DATABASE]);
          kills += rowCount ?? 0;
          await new Promise((r) => setTimeout(r, 3));
        }
      })();
      const failures = new Map<string, number>();
      let saved = 0;
      const writer = async (w: number) => {
        for (let i = 0; Date.now() < until; i++) {
          try {
            await store.saveState(record(`w${w}-${i % 20}`), ctx);
            saved++;
          } catch (err) {
            const code = err instanceof WfctlError ? err.code : `not a WfctlError: ${String(err)}`;
            failures.set(code, (failures.get(code) ?? 0) + 1);
          }
        }
      };
      await Promise.all([storm, ...Array.from({ length: WRITERS }, (_, w) => writer(w))]);
      console.log(`${kills} connections killed; ${saved} saves succeeded; failures: ${JSON.stringify(Object.fromEntries(failures))}; ${lost.length} losses reported`);
      expect(unhandled).toEqual([]);
      expect(kills).toBeGreaterThan(0);
      expect([...failures.keys()]).toEqual(failures.size > 0 ? [ErrorCode.STATE_BACKEND_UNAVAILABLE] : []);
      expect(lost.length).toBeGreaterThan(0);
      // After the storm the store works: the pool made new connections.
      await store.saveState(record("after"), ctx);
      expect((await store.getState("after", ctx))?.providerId).toBe("after");
    } finally {
      process.off("uncaughtException", onUncaught);
      reportLostConnections(() => {});
      await admin.end();
    }
  });
});
