// An npm project outside the repository that installs without the network:
// its package-lock.json is cut from wfctl's own, so every package it needs is
// one `npm ci` of this repository already put in the npm cache (on a
// developer's machine and on CI alike), at the version wfctl is tested with.
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./paths.js";

/** One package of a package-lock.json (lockfileVersion 3). */
interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

export interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

/** The packages `entry` needs installed: its dependencies, optional ones, and peers that are not optional. */
function needs(entry: LockEntry): string[] {
  const peers = Object.keys(entry.peerDependencies ?? {}).filter((name) => !entry.peerDependenciesMeta?.[name]?.optional);
  return [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}), ...peers];
}

/** Where Node.js finds `name` from the package at `from` ("" is the project): the nearest node_modules above it that has it. */
function locate(packages: Readonly<Record<string, LockEntry>>, from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dir.includes("/node_modules/") ? dir.slice(0, dir.lastIndexOf("/node_modules/")) : "") {
    const candidate = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`;
    if (candidate in packages) return candidate;
    if (dir === "") return undefined;
  }
}

/**
 * The entries of wfctl's lockfile that install `roots` (names the project
 * depends on), and everything they need, where wfctl has them. Throws for a
 * package wfctl does not lock (it would need the network).
 */
function lockedClosure(roots: readonly string[], extra: Readonly<Record<string, LockEntry>>): Record<string, LockEntry> {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const packages = { ...lock.packages, ...extra };
  const picked: Record<string, LockEntry> = {};
  const queue: [from: string, name: string][] = roots.map((name) => ["", name]);
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [from, name] = next;
    const path = locate(packages, from, name);
    const entry = path === undefined ? undefined : packages[path];
    if (path === undefined || entry === undefined) {
      // A platform package of another system is not in the lock either way.
      if (from !== "" && Object.keys(packages[from]?.optionalDependencies ?? {}).includes(name)) continue;
      throw new Error(`${name} (needed by ${from || "the project"}) is not in wfctl's package-lock.json, so it cannot be installed from the npm cache`);
    }
    if (path in picked) continue;
    picked[path] = withTarballUrl(path, entry);
    for (const dep of needs(entry)) queue.push([path, dep]);
  }
  return picked;
}

/**
 * `entry` with the registry address of its tarball. wfctl's lock leaves it
 * out (omit-lockfile-registry-resolved), which makes npm ask the registry for
 * each package's metadata to find it: the network, and a stalled request
 * could hold an install for minutes. With the address and the integrity,
 * npm takes the tarball from its cache.
 */
function withTarballUrl(path: string, entry: LockEntry): LockEntry {
  if (entry.resolved !== undefined || entry.version === undefined || entry.integrity === undefined || entry["link"] === true) return entry;
  const name = typeof entry["name"] === "string" ? entry["name"] : path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
  const file = name.slice(name.lastIndexOf("/") + 1);
  return { ...entry, resolved: `https://registry.npmjs.org/${name}/-/${file}-${entry.version}.tgz` };
}

/**
 * Writes `pkg` as `dir`/package.json and a package-lock.json for it, cut from
 * wfctl's: the packed package `packed` (its tarball, which the project
 * depends on as `file:`, and its package.json) and every registry package at
 * wfctl's version. `npm ci` then installs it from the npm cache.
 */
export function writeLockedProject(dir: string, pkg: PackageJson, packed: { tarball: string; manifest: PackageJson }): void {
  const { tarball, manifest } = packed;
  const spec = `file:${relative(dir, tarball)}`;
  const self = `node_modules/${manifest.name}`;
  const packedEntry: LockEntry = {
    version: manifest.version,
    resolved: spec,
    integrity: `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`,
    ...(manifest.dependencies ? { dependencies: manifest.dependencies } : {}),
    ...(manifest.peerDependencies ? { peerDependencies: manifest.peerDependencies } : {}),
    ...(manifest.peerDependenciesMeta ? { peerDependenciesMeta: manifest.peerDependenciesMeta } : {}),
  };
  const project = { ...pkg, dependencies: { ...pkg.dependencies, [manifest.name]: spec } };
  const roots = [...Object.keys(project.dependencies), ...Object.keys(project.devDependencies ?? {})];
  const registry = lockedClosure(roots, { [self]: packedEntry });
  const root = { name: project.name, version: project.version, dependencies: project.dependencies, devDependencies: project.devDependencies ?? {} };
  const lockfile = { name: project.name, version: project.version, lockfileVersion: 3, requires: true, packages: { "": root, ...registry } };
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(project, null, 2)}\n`);
  writeFileSync(join(dir, "package-lock.json"), `${JSON.stringify(lockfile, null, 2)}\n`);
}

/** The version range wfctl's package.json gives `name` (a dependency or a devDependency). */
export function wfctlRange(name: string): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;
  const range = pkg.dependencies?.[name] ?? pkg.devDependencies?.[name];
  if (range === undefined) throw new Error(`wfctl's package.json does not depend on ${name}`);
  return range;
}

/**
 * The environment for a command run in the project: this one without what
 * `npm test` and vitest set for themselves (npm's idea of the current
 * project, vitest's worker variables, NODE_OPTIONS), which would make npm or
 * vitest in the project act on this repository or as a worker of this run.
 */
export function projectEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_config_local_prefix|npm_package_.*|npm_lifecycle_.*|npm_command|VITEST.*|NODE_OPTIONS)$/i.test(key)) continue;
    env[key] = value;
  }
  return env;
}

/**
 * Runs a command to its end in its own process group; resolves with its
 * exit code and output (never rejects on a non-zero exit). Past `timeoutMs`
 * the whole group is killed and the promise rejects with the output so far.
 */
export function run(command: string, args: readonly string[], options: { cwd: string; timeoutMs: number }): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: projectEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is gone already
      }
      reject(new Error(`${command} ${args.join(" ")} did not finish within ${options.timeoutMs} ms; its output:\n${output}`));
    }, options.timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
