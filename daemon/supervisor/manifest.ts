// A project's own plugins: declared in wfctl.yaml (project-manifest.ts) and
// pinned in .wfctl-lock.yaml (lockfile.ts), both beside infra.yaml.
// `wfctl plugins lock` writes the lockfile; the daemon runs only plugins
// whose wfctl.yaml entry matches their lock entry, and checks the sha256
// before every spawn.
import { realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { envPatternProblems, normalizeEnvPatterns } from "../../proto/env-patterns.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { PluginKind, PluginSpec } from "./catalog.js";
import { LOCK_FILE, type Lock, type LockEntry, lockEntry, parseLock, sha256File, whyNotLocked, writeLock } from "./lockfile.js";
import { checkStillInside, resolvePackageBin } from "./package-resolve.js";
import { MANIFEST_FILE, type ManifestPlugin, parseManifest, readOptional } from "./project-manifest.js";

export { LOCK_FILE, LOCK_FORMAT, type LockEntry, sha256File } from "./lockfile.js";
export { MANIFEST_FILE } from "./project-manifest.js";

export interface ProjectPlugins {
  manifest: string;
  lockfile: string;
  plugins: ManifestPlugin[];
  lock: Lock;
}

/** Reads wfctl.yaml and .wfctl-lock.yaml in `dir`; undefined when there is no wfctl.yaml. */
export async function readProjectPlugins(dir: string): Promise<ProjectPlugins | undefined> {
  const manifest = join(dir, MANIFEST_FILE);
  const lockfile = join(dir, LOCK_FILE);
  const text = await readOptional(manifest);
  if (text === undefined) return undefined;
  const plugins = await parseManifest(manifest, text);
  const lockText = await readOptional(lockfile);
  const lock: Lock = lockText === undefined ? { format: 2, entries: {} } : await parseLock(lockfile, lockText);
  return { manifest, lockfile, plugins, lock };
}

/** How to start a plugin whose file is `path` (run with node when `node`). */
function startSpec(plugin: ManifestPlugin, path: string, node: boolean, manifest: string): Pick<PluginSpec, "name" | "kind" | "executable" | "args" | "env" | "source"> {
  return {
    name: plugin.name,
    kind: plugin.kind as PluginKind,
    executable: node ? process.execPath : path,
    args: [...(node ? [path] : []), ...(plugin.args ?? [])],
    env: { ...plugin.env },
    source: manifest,
  };
}

/** The specs of a project's locked plugins; a plugin whose wfctl.yaml entry does not match its lock entry is PLUGIN_NOT_LOCKED. */
export async function projectPluginSpecs(dir: string): Promise<PluginSpec[]> {
  const project = await readProjectPlugins(dir);
  if (!project) return [];
  const specs: PluginSpec[] = [];
  for (const plugin of project.plugins) {
    const why = whyNotLocked(plugin, project.lock, project.lockfile);
    if (why !== undefined) {
      throw new WfctlError(ErrorCode.PLUGIN_NOT_LOCKED, `${why}; run \`wfctl plugins lock -c ${join(dir, "infra.yaml")}\``, {
        details: [{ file: project.manifest, message: why }],
      });
    }
    const entry = project.lock.entries[plugin.name] as LockEntry;
    const path = isAbsolute(entry.path) ? entry.path : resolve(dirname(project.lockfile), entry.path);
    if (plugin.package !== undefined) await checkStillInside(dir, plugin.package, path, `${project.manifest}: plugin "${plugin.name}"`);
    specs.push({
      ...startSpec(plugin, path, entry.node, project.manifest),
      readsEnv: entry.reads_env,
      pinned: { path, sha256: entry.sha256, version: entry.version, lockfile: project.lockfile },
    });
  }
  return specs;
}

/** The file a wfctl.yaml entry runs: its path as the lockfile records it (relative to `dir`), the absolute path, and whether node runs it. */
async function resolveEntry(dir: string, plugin: ManifestPlugin, where: string): Promise<{ recorded: string; path: string; node: boolean }> {
  let path: string;
  let recorded: string;
  if (plugin.package !== undefined) {
    path = await resolvePackageBin(dir, plugin.package, where);
    // Relative to the project's real directory: the package is inside it.
    recorded = relative(await realpath(dir), path);
  } else {
    path = resolve(dir, plugin.source as string);
    recorded = relative(dir, path);
  }
  try {
    if (!(await stat(path)).isFile()) throw new Error("not a file");
  } catch {
    throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${where}: ${path} is not a file`);
  }
  return { recorded, path, node: /\.(m|c)?js$/.test(path) };
}

/** What starting a plugin once tells the lock: the version it reports and the host variables it says it reads. */
export interface ProbeResult {
  version: string;
  readsEnv: readonly string[];
}

/** Locks one plugin: resolves it, hashes it, starts it once (`probe`) and checks what it says. */
async function lockOne(dir: string, project: ProjectPlugins, plugin: ManifestPlugin, probe: (spec: PluginSpec) => Promise<ProbeResult>): Promise<LockEntry> {
  const where = `${project.manifest}: plugin "${plugin.name}"`;
  const { recorded, path, node } = await resolveEntry(dir, plugin, where);
  const sha256 = await sha256File(path);
  // No reads_env yet (the probe is how it is learnt): the probe starts with the base environment only.
  const probed = await probe({ ...startSpec(plugin, path, node, project.manifest), pinned: { path, sha256, version: "", lockfile: project.lockfile } });
  const problems = envPatternProblems(probed.readsEnv);
  if (problems.length > 0) throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${where}: ${path} declares a reads_env wfctl cannot honour: ${problems.join("; ")}`);
  if (plugin.version !== undefined && plugin.version !== probed.version) {
    throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${where} asks for version ${plugin.version}, but ${path} is version ${probed.version}`);
  }
  return lockEntry(plugin, { path: recorded, node, sha256 }, { version: probed.version, readsEnv: normalizeEnvPatterns(probed.readsEnv) });
}

/**
 * Locks every plugin of `dir`'s wfctl.yaml: resolves it, hashes it, asks it
 * its version and reads_env (`probe` starts it once), and writes .wfctl-lock.yaml.
 */
export async function lockProjectPlugins(dir: string, probe: (spec: PluginSpec) => Promise<ProbeResult>): Promise<{ lockfile: string; entries: Record<string, LockEntry> }> {
  const project = await readProjectPlugins(dir);
  if (!project) throw new WfctlError(ErrorCode.NOT_FOUND, `no ${MANIFEST_FILE} in ${dir}: nothing to lock`);
  const entries: Record<string, LockEntry> = {};
  for (const plugin of project.plugins) entries[plugin.name] = await lockOne(dir, project, plugin, probe);
  await writeLock(project.lockfile, entries);
  return { lockfile: project.lockfile, entries };
}
