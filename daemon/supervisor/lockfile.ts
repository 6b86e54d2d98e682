// .wfctl-lock.yaml: what `wfctl plugins lock` pinned for each plugin of
// wfctl.yaml — everything that decides what runs: the file started, whether
// Node.js runs it, a checksum of all its code (checksum.ts: the file, or the
// whole directory a package was installed in) per platform where that
// matters, the version it reported, its args, its env (a digest of each
// value, never the value), and the host variables it declared it reads
// (reads_env). A plugin whose wfctl.yaml entry no longer matches its lock
// entry in any of these is not run (PLUGIN_NOT_LOCKED, naming the field).
import { createHash, randomUUID } from "node:crypto";
import { rename, writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import { z } from "zod";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { parseYamlFile } from "../config/load.js";
import { type ManifestPlugin, declared, parseWith } from "./project-manifest.js";

export const LOCK_FILE = ".wfctl-lock.yaml";
/**
 * The format written. Formats 1 (before args, env and reads_env were pinned)
 * and 2 (which pinned only the file started, not the code it loads) are
 * still read, and their entries refused as not locked.
 */
export const LOCK_FORMAT = 3;

const kind = z.enum(["provider", "state_backend"]);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const checksum = z.string().regex(/^(sha256:[0-9a-f]{64}|h1:[A-Za-z0-9+/]{43}=)$/);

/** What every format pins. */
const commonEntry = {
  kind,
  /** What wfctl.yaml said when this was locked: `source:<path>` or `package:<name>`. */
  source: z.string(),
  /** The file that is run (or run with node): relative to the lockfile unless absolute. */
  path: z.string().min(1),
  /** Run with this Node.js (a .js/.mjs/.cjs entry point). */
  node: z.boolean(),
  version: z.string(),
};

const v1EntrySchema = z.object({ ...commonEntry, sha256 }).strict();

const pinnedRun = {
  /** The arguments wfctl.yaml gave it. */
  args: z.array(z.string()),
  /** Each variable wfctl.yaml sets for it, with a digest of its value (envDigest): never the value. */
  env: z.record(z.string(), z.string().regex(/^sha256:[0-9a-f]{64}$/)),
  /** The host variables it declared it reads (GetInfo.reads_env), sorted. */
  reads_env: z.array(z.string()),
};

const v2EntrySchema = z.object({ ...commonEntry, sha256, ...pinnedRun }).strict();

const lockEntrySchema = z
  .object({
    ...commonEntry,
    /** Where a package plugin was installed from, when wfctl.yaml says (`from:`). */
    from: z.string().min(1).optional(),
    /** What the checksums cover: the file run, or the directory a package was installed in; relative to the lockfile unless absolute. */
    root: z.string().min(1),
    /** The checksum of everything under `root`, by platform: `any`, or `<platform>-<arch>` where the code is native. */
    checksums: z.record(z.string().regex(/^(any|[a-z0-9]+-[a-z0-9]+)$/), checksum).refine((c) => Object.keys(c).length > 0, { message: "must hold at least one checksum" }),
    ...pinnedRun,
  })
  .strict();

export type LockEntry = z.infer<typeof lockEntrySchema>;

/** A lockfile as read: its format, and its entries by plugin name (only format 3 entries can run). */
export type Lock =
  | { format: 1; entries: Record<string, z.infer<typeof v1EntrySchema>> }
  | { format: 2; entries: Record<string, z.infer<typeof v2EntrySchema>> }
  | { format: 3; entries: Record<string, LockEntry> };

const lockSchemas = {
  1: z.object({ lockfile_version: z.literal(1), plugins: z.record(z.string(), v1EntrySchema) }).strict(),
  2: z.object({ lockfile_version: z.literal(2), plugins: z.record(z.string(), v2EntrySchema) }).strict(),
  3: z.object({ lockfile_version: z.literal(3), plugins: z.record(z.string(), lockEntrySchema) }).strict(),
};

/**
 * What the lockfile keeps of one env value: `sha256:` and the hex sha256 of
 * the variable's name and value. Enough to notice any change, without
 * writing a secret into a file meant to be committed.
 */
export function envDigest(name: string, value: string): string {
  return `sha256:${createHash("sha256").update(`wfctl-lock-env\0${name}\0${value}`).digest("hex")}`;
}

/** Parses a lockfile of either format; an unknown format is CONFIG_INVALID saying which this wfctl reads. */
export async function parseLock(file: string, text: string): Promise<Lock> {
  const raw = (await parseYamlFile(file, text)).value as { lockfile_version?: unknown } | null;
  const version = raw?.lockfile_version;
  if (version === 1) return { format: 1, entries: (await parseWith(file, text, lockSchemas[1])).plugins };
  if (version === 2) return { format: 2, entries: (await parseWith(file, text, lockSchemas[2])).plugins };
  if (version === 3 || version === undefined) return { format: 3, entries: (await parseWith(file, text, lockSchemas[3])).plugins };
  throw new WfctlError(
    ErrorCode.CONFIG_INVALID,
    `${file}: lockfile_version ${JSON.stringify(version)} is not one this wfctl reads (1 to 3); run \`wfctl plugins lock\` to rewrite it`,
    { details: [{ file, field: "lockfile_version", message: `unknown lockfile_version ${JSON.stringify(version)}` }] },
  );
}

/** What a plugin resolved to when locked: the file run, what the checksum covers, and the checksums by platform. */
export interface ResolvedPlugin {
  path: string;
  node: boolean;
  root: string;
  checksums: Record<string, string>;
}

/** The lock entry for `plugin`: what it resolved to, and what starting it once told. */
export function lockEntry(plugin: ManifestPlugin, resolved: ResolvedPlugin, probed: { version: string; readsEnv: readonly string[] }): LockEntry {
  return {
    kind: plugin.kind,
    source: declared(plugin),
    ...(plugin.from !== undefined ? { from: plugin.from } : {}),
    path: resolved.path,
    node: resolved.node,
    version: probed.version,
    root: resolved.root,
    checksums: { ...resolved.checksums },
    args: [...(plugin.args ?? [])],
    env: Object.fromEntries(Object.entries(plugin.env ?? {}).map(([name, value]) => [name, envDigest(name, value)])),
    reads_env: [...probed.readsEnv],
  };
}

/** How each env variable of wfctl.yaml differs from the lock entry: `env.NAME`, with a word when added or removed. */
function envDifferences(plugin: ManifestPlugin, entry: LockEntry): string[] {
  const wanted = plugin.env ?? {};
  const found: string[] = [];
  for (const [name, value] of Object.entries(wanted)) {
    const pinned = entry.env[name];
    if (pinned === undefined) found.push(`env.${name} (not in the lockfile)`);
    else if (pinned !== envDigest(name, value)) found.push(`env.${name}`);
  }
  for (const name of Object.keys(entry.env)) if (!(name in wanted)) found.push(`env.${name} (no longer in wfctl.yaml)`);
  return found;
}

/** Every field in which wfctl.yaml's entry for a plugin differs from its lock entry (empty: it is locked as it is). */
export function lockDifferences(plugin: ManifestPlugin, entry: LockEntry): string[] {
  const found: string[] = [];
  if (entry.kind !== plugin.kind) found.push(`kind (locked: ${entry.kind}, wfctl.yaml: ${plugin.kind})`);
  if (entry.source !== declared(plugin)) found.push(`${plugin.source !== undefined ? "source" : "package"} (locked: ${entry.source}, wfctl.yaml: ${declared(plugin)})`);
  if (entry.from !== plugin.from) found.push(`from (locked: ${entry.from ?? "none"}, wfctl.yaml: ${plugin.from ?? "none"})`);
  if (plugin.version !== undefined && plugin.version !== entry.version) found.push(`version (locked: ${entry.version}, wfctl.yaml asks for ${plugin.version})`);
  const args = plugin.args ?? [];
  if (args.length !== entry.args.length || args.some((a, i) => a !== entry.args[i])) found.push("args");
  found.push(...envDifferences(plugin, entry));
  return found;
}

/**
 * Why `plugin` cannot run as the lock stands, as a sentence naming it
 * (undefined when it can): it is not in the lockfile; its entry is of format
 * 1, which pinned neither args, env nor reads_env (refused whatever it says,
 * so that a lock written before this wfctl cannot run a plugin with an
 * unpinned env); or fields differ, each named.
 */
export function whyNotLocked(plugin: ManifestPlugin, lock: Lock, lockfile: string): string | undefined {
  const entry = lock.entries[plugin.name];
  const who = `plugin "${plugin.name}"`;
  if (!entry) return `${who} is not in ${lockfile}`;
  if (lock.format === 1) return `${who} was locked by an older wfctl (${lockfile} is lockfile_version 1, which does not pin args, env and reads_env)`;
  if (lock.format === 2) return `${who} was locked by an older wfctl (${lockfile} is lockfile_version 2, which pins only the file a plugin starts, not all the code it runs)`;
  const differences = lockDifferences(plugin, entry as LockEntry);
  if (differences.length === 0) return undefined;
  return `${who}: ${differences.join(", ")} ${differences.length === 1 ? "differs" : "differ"} from ${lockfile}`;
}

/** Writes the lockfile atomically (a temporary file renamed over it). */
export async function writeLock(lockfile: string, entries: Record<string, LockEntry>): Promise<void> {
  const text =
    "# Written by `wfctl plugins lock` and `wfctl plugins install`; do not edit. Pins each plugin\n" +
    "# of wfctl.yaml: the file it runs, a checksum of all its code per platform, its version,\n" +
    "# args, env (a digest of each value) and the host variables it reads. wfctld refuses to\n" +
    "# start a plugin that differs in any of them. Commit it.\n" +
    stringify({ lockfile_version: LOCK_FORMAT, plugins: entries });
  const temp = `${lockfile}.${randomUUID()}.tmp`;
  await writeFile(temp, text, { mode: 0o644 });
  await rename(temp, lockfile);
}
