// Type-checks everything (tests included: strict TypeScript is part of the
// suite), builds the executables the integration and end-to-end tests run
// (the real wfctl, wfctld and plugin processes run from dist/), and starts the
// servers the tests talk to: PostgreSQL (a throwaway cluster, or the server
// DATABASE_URL names). Under CI=true a server that cannot be had fails the
// run; elsewhere the tests that need it are skipped, saying why.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { type PostgresServer, findPostgresBinaries, startPostgres } from "./servers/postgres.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Connection string of the test PostgreSQL server; "" when there is none (never under CI=true). */
    postgresUrl: string;
    /** Why there is no PostgreSQL server, when there is none. */
    postgresMissing: string;
  }
}

function build(root: string): void {
  const tsc = (what: string, args: string[]) => {
    try {
      execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), ...args], { cwd: root, stdio: "pipe" });
    } catch (err) {
      const e = err as { stdout?: Buffer; stderr?: Buffer };
      throw new Error(`${what} failed:\n${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`);
    }
  };
  tsc("type-checking (npm run typecheck)", ["-p", join(root, "tsconfig.json"), "--noEmit"]);
  tsc("building wfctl for the tests", ["-p", join(root, "tsconfig.build.json")]);
}

async function postgres(): Promise<{ server: PostgresServer | undefined; missing: string }> {
  const external = process.env["DATABASE_URL"];
  if (external) return { server: { url: external, origin: "DATABASE_URL", stop: async () => {} }, missing: "" };
  const bin = findPostgresBinaries();
  if (!bin) {
    return { server: undefined, missing: "no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin or on PATH, and DATABASE_URL is not set" };
  }
  return { server: await startPostgres(bin), missing: "" };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  build(root);
  const pg = await postgres();
  if (!pg.server && process.env["CI"]) {
    throw new Error(`CI=true: the tests need PostgreSQL, but ${pg.missing}. Install the server (Debian: postgresql) or set DATABASE_URL.`);
  }
  project.provide("postgresUrl", pg.server?.url ?? "");
  project.provide("postgresMissing", pg.missing);
  return async () => {
    await pg.server?.stop();
  };
}
