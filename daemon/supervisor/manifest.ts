// A project's own plugins: declared in wfctl.yaml (name, kind, source path or
// npm package, version, args, env) and pinned in .wfctl-lock.yaml (resolved
// path, version, sha256), both beside infra.yaml. `wfctl plugins lock` writes
// the lockfile; the daemon runs only locked plugins, and checks the sha256
// before every spawn.
import { createHash, randomUUID } from "node:crypto";
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { stringify } from "yaml";
import { z } from "zod";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { CORE_BACKENDS } from "../../proto/state-store.js";
import { MODULE_NAME } from "../config/schema.js";
import { parseYamlFile } from "../config/load.js";
import { readConfigFile } from "../config/read.js";
import { formatDetails } from "../config/source.js";
import type { PluginKind, PluginSpec } from "./catalog.js";

export const MANIFEST_FILE = "wfctl.yaml";
export const LOCK_FILE = ".wfctl-lock.yaml";
export const LOCK_FORMAT = 1;

const manifestPluginSchema = z
  .object({
    name: z.string().regex(MODULE_NAME, { message: "must start with a letter or digit and use only letters, digits, '_', '.', '-'" }),
    kind: z.enum(["provider", "state_backend"]),
    /** Path of the executable, or of a .js/.mjs/.cjs file run with this Node.js; relative to wfctl.yaml. */
    source: z.string().min(1).optional(),
    /** An npm package installed for this project; its package.json `bin` is the executable. */
    package: z.string().min(1).optional(),
    /** The version the plugin must report; checked when locking and at every start. */
    version: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .refine((p) => (p.source === undefined) !== (p.package === undefined), { message: "set exactly one of source and package" });

const manifestSchema = z.object({ plugins: z.array(manifestPluginSchema).default([]) }).strict();

type ManifestPlugin = z.infer<typeof manifestPluginSchema>;

const lockEntrySchema = z
  .object({
    kind: z.enum(["provider", "state_backend"]),
    /** What wfctl.yaml said when this was locked (a change makes the entry stale). */
    source: z.string(),
    /** The file that is hashed and run (or run with node): relative to the lockfile unless absolute. */
    path: z.string().min(1),
    /** Run with this Node.js (a .js/.mjs/.cjs entry point). */
    node: z.boolean(),
    version: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

const lockSchema = z.object({ lockfile_version: z.literal(LOCK_FORMAT), plugins: z.record(z.string(), lockEntrySchema) }).strict();

export type LockEntry = z.infer<typeof lockEntrySchema>;

/** sha256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

/** A file the daemon reads because a request named its directory: a regular file, bounded in size and time (read.ts). */
function readOptional(path: string): Promise<string | undefined> {
  return readConfigFile(path, { what: "plugin file", missingOk: true });
}

/** Parsed in a worker thread, as infra.yaml is (load.ts). */
async function parseWith<T>(file: string, text: string, schema: z.ZodType<T>): Promise<T> {
  const { value, source } = await parseYamlFile(file, text);
  const raw = value ?? {};
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    const field = path.filter((p) => typeof p === "string").join(".");
    return source.detail(path, issue.message, undefined, field || undefined);
  });
  throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(file, details), { details });
}

/** What `source` / `package` says, as recorded in the lockfile. */
function declared(plugin: ManifestPlugin): string {
  return plugin.source !== undefined ? `source:${plugin.source}` : `package:${plugin.package}`;
}

/** Resolves a manifest entry to the file to hash and run. */
function resolveEntry(dir: string, plugin: ManifestPlugin, manifest: string): { path: string; node: boolean } {
  let path: string;
  if (plugin.source !== undefined) {
    path = resolve(dir, plugin.source);
  } else {
    const pkg = plugin.package as string;
    let pkgJson: string;
    try {
      pkgJson = createRequire(join(dir, "noop.js")).resolve(`${pkg}/package.json`);
    } catch {
      throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${manifest}: plugin "${plugin.name}": npm package "${pkg}" is not installed for ${dir} (run npm install ${pkg})`);
    }
    const meta = createRequire(pkgJson)(pkgJson) as { bin?: string | Record<string, string> };
    const bins = typeof meta.bin === "string" ? [meta.bin] : Object.values(meta.bin ?? {});
    if (bins.length !== 1) {
      throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${manifest}: plugin "${plugin.name}": package "${pkg}" must declare exactly one bin entry (it declares ${bins.length})`);
    }
    path = resolve(dirname(pkgJson), bins[0] as string);
  }
  return { path, node: /\.(m|c)?js$/.test(path) };
}

export interface ProjectPlugins {
  manifest: string;
  lockfile: string;
  plugins: ManifestPlugin[];
  lock: Record<string, LockEntry>;
}

/** Reads wfctl.yaml and .wfctl-lock.yaml in `dir`; undefined when there is no wfctl.yaml. */
export async function readProjectPlugins(dir: string): Promise<ProjectPlugins | undefined> {
  const manifest = join(dir, MANIFEST_FILE);
  const lockfile = join(dir, LOCK_FILE);
  const text = await readOptional(manifest);
  if (text === undefined) return undefined;
  const { plugins } = await parseWith(manifest, text, manifestSchema);
  const names = new Set<string>();
  for (const p of plugins) {
    if (names.has(`${p.kind}/${p.name}`)) throw new WfctlError(ErrorCode.CONFIG_INVALID, `${manifest}: plugin "${p.name}" (${p.kind}) is declared twice`);
    names.add(`${p.kind}/${p.name}`);
    if (p.kind === "state_backend" && CORE_BACKENDS.includes(p.name)) {
      throw new WfctlError(ErrorCode.CONFIG_INVALID, `${manifest}: plugin "${p.name}": ${CORE_BACKENDS.join(", ")} are core state backends and cannot be replaced`);
    }
  }
  const lockText = await readOptional(lockfile);
  const lock = lockText === undefined ? {} : (await parseWith(lockfile, lockText, lockSchema)).plugins;
  return { manifest, lockfile, plugins, lock };
}

/** The specs of a project's locked plugins; a plugin without a current lock entry is an error. */
export async function projectPluginSpecs(dir: string): Promise<PluginSpec[]> {
  const project = await readProjectPlugins(dir);
  if (!project) return [];
  return project.plugins.map((plugin) => {
    const entry = project.lock[plugin.name];
    const why = !entry
      ? `is not in ${project.lockfile}`
      : entry.source !== declared(plugin) || entry.kind !== plugin.kind
        ? `changed in ${project.manifest} since it was locked`
        : plugin.version !== undefined && plugin.version !== entry.version
          ? `is locked at version ${entry.version}, but ${project.manifest} asks for ${plugin.version}`
          : undefined;
    if (why || !entry) {
      throw new WfctlError(ErrorCode.PLUGIN_NOT_LOCKED, `plugin "${plugin.name}" ${why}; run \`wfctl plugins lock -c ${join(dir, "infra.yaml")}\``);
    }
    const path = isAbsolute(entry.path) ? entry.path : resolve(dirname(project.lockfile), entry.path);
    return {
      name: plugin.name,
      kind: plugin.kind as PluginKind,
      executable: entry.node ? process.execPath : path,
      args: [...(entry.node ? [path] : []), ...(plugin.args ?? [])],
      env: { ...plugin.env },
      source: project.manifest,
      pinned: { path, sha256: entry.sha256, version: entry.version, lockfile: project.lockfile },
    };
  });
}

/**
 * Locks every plugin of `dir`'s wfctl.yaml: resolves it, hashes it, asks it
 * its version (`probe` starts it once), and writes .wfctl-lock.yaml.
 */
export async function lockProjectPlugins(
  dir: string,
  probe: (spec: PluginSpec) => Promise<string>,
): Promise<{ lockfile: string; entries: Record<string, LockEntry> }> {
  const project = await readProjectPlugins(dir);
  if (!project) throw new WfctlError(ErrorCode.NOT_FOUND, `no ${MANIFEST_FILE} in ${dir}: nothing to lock`);
  const entries: Record<string, LockEntry> = {};
  for (const plugin of project.plugins) {
    const { path, node } = resolveEntry(dir, plugin, project.manifest);
    try {
      if (!(await stat(path)).isFile()) throw new Error("not a file");
    } catch {
      throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${project.manifest}: plugin "${plugin.name}": ${path} is not a file`);
    }
    const sha256 = await sha256File(path);
    const spec: PluginSpec = {
      name: plugin.name,
      kind: plugin.kind,
      executable: node ? process.execPath : path,
      args: [...(node ? [path] : []), ...(plugin.args ?? [])],
      env: { ...plugin.env },
      source: project.manifest,
      // Version unpinned: the probe is how the version is learnt (and compared below).
      pinned: { path, sha256, version: "", lockfile: project.lockfile },
    };
    const version = await probe(spec);
    if (plugin.version !== undefined && plugin.version !== version) {
      throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${project.manifest}: plugin "${plugin.name}" asks for version ${plugin.version}, but ${path} is version ${version}`);
    }
    entries[plugin.name] = { kind: plugin.kind, source: declared(plugin), path: relative(dirname(project.lockfile), path), node, version, sha256 };
  }
  const text =
    "# Written by `wfctl plugins lock`; do not edit. Pins each plugin of wfctl.yaml\n" +
    "# to the file that was checked: wfctld refuses to start one whose sha256 differs.\n" +
    stringify({ lockfile_version: LOCK_FORMAT, plugins: entries });
  const temp = `${project.lockfile}.${randomUUID()}.tmp`;
  await writeFile(temp, text, { mode: 0o644 });
  await rename(temp, project.lockfile);
  return { lockfile: project.lockfile, entries };
}
