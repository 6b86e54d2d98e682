// A project's own plugins: declared in wfctl.yaml (project-manifest.ts) and
// pinned in .wfctl-lock.yaml (lockfile.ts), both beside infra.yaml.
// `wfctl plugins lock` and `wfctl plugins install` write the lockfile
// (lock-project.ts); the daemon runs only plugins whose wfctl.yaml entry
// matches their lock entry, and checks the checksum of all their code before
// every spawn.
import { dirname, isAbsolute, join, resolve } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { PluginKind, PluginSpec } from "./catalog.js";
import { LOCK_FILE, type Lock, type LockEntry, LOCK_FORMAT, parseLock, whyNotLocked } from "./lockfile.js";
import { checkStillInside } from "./package-resolve.js";
import { MANIFEST_FILE, type ManifestPlugin, parseManifest, readOptional } from "./project-manifest.js";

export { LOCK_FILE, LOCK_FORMAT, type LockEntry } from "./lockfile.js";
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
  const lock: Lock = lockText === undefined ? { format: LOCK_FORMAT, entries: {} } : await parseLock(lockfile, lockText);
  return { manifest, lockfile, plugins, lock };
}

/** How to start a plugin whose file is `path` (run with node when `node`). */
export function startSpec(plugin: ManifestPlugin, path: string, node: boolean, manifest: string): Pick<PluginSpec, "name" | "kind" | "executable" | "args" | "env" | "source"> {
  return {
    name: plugin.name,
    kind: plugin.kind as PluginKind,
    executable: node ? process.execPath : path,
    args: [...(node ? [path] : []), ...(plugin.args ?? [])],
    env: { ...plugin.env },
    source: manifest,
  };
}

/** This machine's platform, as lock entries name it. */
export const THIS_PLATFORM = `${process.platform}-${process.arch}`;

/** The checksum a lock entry pins on this machine; PLUGIN_NOT_LOCKED when it was locked only for other platforms. */
function checksumHere(entry: LockEntry, who: string, lockfile: string, dir: string): string {
  const checksum = entry.checksums["any"] ?? entry.checksums[THIS_PLATFORM];
  if (checksum !== undefined) return checksum;
  const why = `${who} is locked for ${Object.keys(entry.checksums).join(", ")} in ${lockfile}, not for ${THIS_PLATFORM} (its code is native)`;
  throw new WfctlError(ErrorCode.PLUGIN_NOT_LOCKED, `${why}; run \`wfctl plugins install -c ${join(dir, "infra.yaml")}\` on this platform to add its checksum`, {
    details: [{ file: lockfile, message: why }],
  });
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
    const fromLock = (p: string) => (isAbsolute(p) ? p : resolve(dirname(project.lockfile), p));
    const path = fromLock(entry.path);
    const root = fromLock(entry.root);
    const checksum = checksumHere(entry, `plugin "${plugin.name}"`, project.lockfile, dir);
    if (plugin.package !== undefined) await checkStillInside(dir, plugin.package, path, `${project.manifest}: plugin "${plugin.name}"`);
    specs.push({
      ...startSpec(plugin, path, entry.node, project.manifest),
      readsEnv: entry.reads_env,
      pinned: { path, root, checksum, version: entry.version, lockfile: project.lockfile },
    });
  }
  return specs;
}
