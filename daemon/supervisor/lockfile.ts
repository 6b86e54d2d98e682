// .wfctl-lock.yaml: what `wfctl plugins lock` pinned for each plugin of
// wfctl.yaml — everything that decides what runs: the file started and its
// sha256, whether Node.js runs it, the version it reported, its args, its
// env (a digest of each value, never the value), and the host variables it
// declared it reads (reads_env). A plugin whose wfctl.yaml entry no longer
// matches its lock entry in any of these is not run (PLUGIN_NOT_LOCKED,
// naming the field).
import { createHash, randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { open, rename, writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import { z } from "zod";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { parseYamlFile } from "../config/load.js";
import { type ManifestPlugin, declared, parseWith } from "./project-manifest.js";

export const LOCK_FILE = ".wfctl-lock.yaml";
/** The format written. Format 1 (before args, env and reads_env were pinned) is still read, and its entries refused as not locked. */
export const LOCK_FORMAT = 2;

const kind = z.enum(["provider", "state_backend"]);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** What every format pins. */
const commonEntry = {
  kind,
  /** What wfctl.yaml said when this was locked: `source:<path>` or `package:<name>`. */
  source: z.string(),
  /** The file that is hashed and run (or run with node): relative to the lockfile unless absolute. */
  path: z.string().min(1),
  /** Run with this Node.js (a .js/.mjs/.cjs entry point). */
  node: z.boolean(),
  version: z.string(),
  sha256,
};

const legacyEntrySchema = z.object(commonEntry).strict();

const lockEntrySchema = z
  .object({
    ...commonEntry,
    /** The arguments wfctl.yaml gave it. */
    args: z.array(z.string()),
    /** Each variable wfctl.yaml sets for it, with a digest of its value (envDigest): never the value. */
    env: z.record(z.string(), z.string().regex(/^sha256:[0-9a-f]{64}$/)),
    /** The host variables it declared it reads (GetInfo.reads_env), sorted. */
    reads_env: z.array(z.string()),
  })
  .strict();

export type LockEntry = z.infer<typeof lockEntrySchema>;
type LegacyLockEntry = z.infer<typeof legacyEntrySchema>;

/** A lockfile as read: its format, and its entries by plugin name. */
export type Lock = { format: 1; entries: Record<string, LegacyLockEntry> } | { format: 2; entries: Record<string, LockEntry> };

const lockSchemas = {
  1: z.object({ lockfile_version: z.literal(1), plugins: z.record(z.string(), legacyEntrySchema) }).strict(),
  2: z.object({ lockfile_version: z.literal(2), plugins: z.record(z.string(), lockEntrySchema) }).strict(),
};

/** sha256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  // Opened without blocking and checked on the open handle: a lockfile naming
  // a FIFO or /dev/zero must not wedge or flood the daemon. Hashed as a
  // stream, so a large executable is never held whole.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`${path} is not a regular file`);
    const hash = createHash("sha256");
    for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
    return hash.digest("hex");
  } finally {
    await handle.close();
  }
}

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
  if (version === 2 || version === undefined) return { format: 2, entries: (await parseWith(file, text, lockSchemas[2])).plugins };
  throw new WfctlError(
    ErrorCode.CONFIG_INVALID,
    `${file}: lockfile_version ${JSON.stringify(version)} is not one this wfctl reads (1 or 2); run \`wfctl plugins lock\` to rewrite it`,
    { details: [{ file, field: "lockfile_version", message: `unknown lockfile_version ${JSON.stringify(version)}` }] },
  );
}

/** The lock entry for `plugin`: what it resolved to, and what starting it once told. */
export function lockEntry(plugin: ManifestPlugin, resolved: { path: string; node: boolean; sha256: string }, probed: { version: string; readsEnv: readonly string[] }): LockEntry {
  return {
    kind: plugin.kind,
    source: declared(plugin),
    path: resolved.path,
    node: resolved.node,
    version: probed.version,
    sha256: resolved.sha256,
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
  const differences = lockDifferences(plugin, entry as LockEntry);
  if (differences.length === 0) return undefined;
  return `${who}: ${differences.join(", ")} ${differences.length === 1 ? "differs" : "differ"} from ${lockfile}`;
}

/** Writes the lockfile atomically (a temporary file renamed over it). */
export async function writeLock(lockfile: string, entries: Record<string, LockEntry>): Promise<void> {
  const text =
    "# Written by `wfctl plugins lock`; do not edit. Pins each plugin of wfctl.yaml: the file\n" +
    "# it runs and its sha256, its version, args, env (a digest of each value) and the host\n" +
    "# variables it reads. wfctld refuses to start a plugin that differs in any of them.\n" +
    stringify({ lockfile_version: LOCK_FORMAT, plugins: entries });
  const temp = `${lockfile}.${randomUUID()}.tmp`;
  await writeFile(temp, text, { mode: 0o644 });
  await rename(temp, lockfile);
}
