// Locking a project's plugins: each plugin of wfctl.yaml resolved to the
// file it runs and the code that file loads, that code checksummed
// (checksum.ts), the plugin started once to learn its version and
// reads_env, and .wfctl-lock.yaml written — or, for `plugins lock --check`,
// compared with what is there.
import { realpath, stat } from "node:fs/promises";
import { relative, resolve } from "node:path";
import { envPatternProblems, normalizeEnvPatterns } from "../../proto/env-patterns.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { PluginSpec } from "./catalog.js";
import { runsWithNode } from "../../proto/plugin-handshake.js";
import { checksumPlatform, pluginChecksum } from "./checksum.js";
import { type LockEntry, type ResolvedPlugin, lockEntry, writeLock } from "./lockfile.js";
import { type ProjectPlugins, readProjectPlugins, startSpec } from "./manifest.js";
import { resolvePackageBin } from "./package-resolve.js";
import { MANIFEST_FILE, type ManifestPlugin } from "./project-manifest.js";

/**
 * How a lock is taken. `lock` (plugins lock) pins what is there. `install`
 * (plugins install) does too, but refuses code that differs from what the
 * lockfile already pins for the same version (a package changed without a
 * new version), as Terraform's init does. `check` (plugins lock --check)
 * writes nothing and reports how the lockfile differs.
 */
export type LockMode = "lock" | "install" | "check";

/** What starting a plugin once tells the lock: the version it reports and the host variables it says it reads. */
export interface ProbeResult {
  version: string;
  readsEnv: readonly string[];
}

export interface LockResult {
  lockfile: string;
  entries: Record<string, LockEntry>;
  /** check: each way the lockfile differs from what would be written (empty: up to date). */
  differences: string[];
}

/** The file a wfctl.yaml entry runs, what its checksum covers (both absolute), and whether node runs it. */
async function resolveEntry(dir: string, plugin: ManifestPlugin, where: string): Promise<{ path: string; root: string; node: boolean }> {
  let path: string;
  let root: string;
  if (plugin.package !== undefined) {
    ({ bin: path, root } = await resolvePackageBin(dir, plugin.package, plugin.name, where));
  } else {
    path = resolve(dir, plugin.source as string);
    root = path;
  }
  try {
    if (!(await stat(path)).isFile()) throw new Error("not a file");
  } catch {
    throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${where}: ${path} is not a file`);
  }
  return { path, root, node: runsWithNode(path) };
}

/** Whether two entries pin the same plugin build (everything but the checksums). */
function sameBuild(a: LockEntry, b: LockEntry): boolean {
  const rest = (e: LockEntry) => JSON.stringify({ ...e, checksums: undefined });
  return rest(a) === rest(b);
}

/**
 * The checksums to record: this platform's, plus the other platforms' of the
 * entry already locked when it pins the same build. In `install` mode a
 * checksum for this platform that differs from the one locked for the same
 * version is refused.
 */
function mergeChecksums(entry: LockEntry, locked: LockEntry | undefined, platform: string, mode: LockMode, where: string, lockfile: string): Record<string, string> {
  const mine = entry.checksums[platform] as string;
  if (locked === undefined) return { [platform]: mine };
  const pinned = locked.checksums[platform];
  if (mode === "install" && pinned !== undefined && pinned !== mine && locked.version === entry.version && locked.source === entry.source) {
    throw new WfctlError(
      ErrorCode.PLUGIN_CHECKSUM_MISMATCH,
      `${where}: the code installed for version ${entry.version} has the checksum ${mine}, but ${lockfile} pins ${pinned} for that version: ` +
        "the package changed without a new version. If you trust the new code, run `wfctl plugins install --upgrade` (or `wfctl plugins lock`) to pin it.",
    );
  }
  return sameBuild(entry, locked) ? { ...locked.checksums, [platform]: mine } : { [platform]: mine };
}

/** Locks one plugin: resolves it, checksums it, starts it once (`probe`) and checks what it says. */
async function lockOne(dir: string, project: ProjectPlugins, plugin: ManifestPlugin, probe: (spec: PluginSpec) => Promise<ProbeResult>, mode: LockMode): Promise<LockEntry> {
  const where = `${project.manifest}: plugin "${plugin.name}"`;
  const { path, root, node } = await resolveEntry(dir, plugin, where);
  const checksum = await pluginChecksum(root);
  const platform = await checksumPlatform(root, node);
  // No reads_env yet (the probe is how it is learnt): the probe starts with the base environment only.
  const probed = await probe({ ...startSpec(plugin, path, node, project.manifest), pinned: { path, root, checksum, version: "", lockfile: project.lockfile } });
  const problems = envPatternProblems(probed.readsEnv);
  if (problems.length > 0) throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${where}: ${path} declares a reads_env wfctl cannot honour: ${problems.join("; ")}`);
  if (plugin.version !== undefined && plugin.version !== probed.version) {
    throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${where} asks for version ${plugin.version}, but ${path} is version ${probed.version}`);
  }
  // Paths relative to the lockfile's directory (the project's real directory, for a package: it is inside it).
  const base = plugin.package !== undefined ? await realpath(dir) : dir;
  const recorded = (p: string) => relative(base, p);
  const resolved: ResolvedPlugin = { path: recorded(path), node, root: recorded(root), checksums: { [platform]: checksum } };
  const entry = lockEntry(plugin, resolved, { version: probed.version, readsEnv: normalizeEnvPatterns(probed.readsEnv) });
  const locked = project.lock.format === 3 ? project.lock.entries[plugin.name] : undefined;
  return { ...entry, checksums: mergeChecksums(entry, locked, platform, mode, where, project.lockfile) };
}

/** Each way `lock` (the lockfile as it is) differs from `wanted`, one line each. */
function lockDrift(project: ProjectPlugins, wanted: Record<string, LockEntry>): string[] {
  const found: string[] = [];
  if (project.lock.format !== 3) found.push(`${project.lockfile} is lockfile_version ${project.lock.format}; this wfctl writes 3`);
  const current: Record<string, Partial<LockEntry>> = project.lock.entries;
  for (const [name, entry] of Object.entries(wanted)) {
    const had = current[name];
    if (had === undefined) {
      found.push(`plugin "${name}" is not locked`);
      continue;
    }
    const fields = (Object.keys(entry) as (keyof LockEntry)[]).filter((k) => JSON.stringify(entry[k]) !== JSON.stringify(had[k]));
    if (fields.length > 0) found.push(`plugin "${name}": ${fields.join(", ")} ${fields.length === 1 ? "differs" : "differ"}`);
  }
  for (const name of Object.keys(current)) if (!(name in wanted)) found.push(`plugin "${name}" is locked but no longer in wfctl.yaml`);
  return found;
}

/**
 * Locks every plugin of `dir`'s wfctl.yaml: resolves it, checksums its code,
 * asks it its version and reads_env (`probe` starts it once), and writes
 * .wfctl-lock.yaml — except in `check` mode, which only reports differences.
 */
export async function lockProjectPlugins(dir: string, probe: (spec: PluginSpec) => Promise<ProbeResult>, mode: LockMode = "lock"): Promise<LockResult> {
  const project = await readProjectPlugins(dir);
  if (!project) throw new WfctlError(ErrorCode.NOT_FOUND, `no ${MANIFEST_FILE} in ${dir}: nothing to lock`);
  const entries: Record<string, LockEntry> = {};
  for (const plugin of project.plugins) entries[plugin.name] = await lockOne(dir, project, plugin, probe, mode);
  if (mode === "check") return { lockfile: project.lockfile, entries, differences: lockDrift(project, entries) };
  await writeLock(project.lockfile, entries);
  return { lockfile: project.lockfile, entries, differences: [] };
}
