// The filesystem backend, wfctl's embedded default: one JSON file per resource
// under <directory>/<namespace>/resources/, named after its resource id and
// written atomically (temp file, fsync, rename, fsync of the directory), and
// one lock file per lock under locks/, recording who holds it, for what,
// since when. A lock file appears complete or not at all (written in full to
// a temp file, then linked to its name, which fails if the lock is held).
import { randomBytes, randomUUID } from "node:crypto";
import { link, mkdir, open, readFile, readdir, rename, rm, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { isJsonObject } from "../../proto/json.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  lockHeldError,
  matchesFilter,
  throwIfAborted,
} from "../../proto/state-store.js";

/**
 * mkdir -p that always settles. Node's recursive mkdir loops forever where
 * mkdir answers ENOENT for a parent that exists (procfs): a state directory
 * under /proc/self held an operation, a CPU and the daemon's shutdown for good.
 */
async function makeDirectories(path: string, mode: number): Promise<void> {
  const missing: string[] = [];
  for (let dir = path; ; dir = dirname(dir)) {
    try {
      await mkdir(dir, { mode });
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") break;
      if (code !== "ENOENT" || dirname(dir) === dir) throw err;
      missing.push(dir);
    }
  }
  // Parents first; each either made now or found made (EEXIST) by a concurrent open.
  for (const dir of missing.reverse()) {
    await mkdir(dir, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
  }
}

/** Version of the on-disk record format; read refuses versions it does not know. */
export const FILESYSTEM_FORMAT = "wfctl.state.v1";

/** Refuses ids that could step outside the directory. */
function fileName(resourceId: string): string {
  if (resourceId === "" || resourceId === "." || resourceId === ".." || /[/\\\0]/.test(resourceId)) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `invalid resource id ${JSON.stringify(resourceId)}`);
  }
  return encodeURIComponent(resourceId);
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** A new file in `dir` holding `data`, written in full and synced; its path. Removed again if that fails. */
async function writeTempFile(dir: string, data: string): Promise<string> {
  const temp = join(dir, `.${randomBytes(8).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(data, "utf8");
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  return temp;
}

/** Writes `data` to `path` so that readers see the old file or the new one, never a mix. */
export async function writeFileAtomic(path: string, dir: string, data: string): Promise<void> {
  const temp = await writeTempFile(dir, data);
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDirectory(dir);
}

function encodeRecord(state: ResourceState): string {
  return `${JSON.stringify(
    {
      format: FILESYSTEM_FORMAT,
      resource_id: state.resourceId,
      resource_type: state.resourceType,
      provider: state.provider,
      status: state.status,
      provider_id: state.providerId,
      protected: state.protected,
      depends_on: state.dependsOn,
      created_at: state.createdAt,
      updated_at: state.updatedAt,
      error: state.error,
      config: state.config,
      outputs: state.outputs,
    },
    null,
    2,
  )}\n`;
}

/** The resource id a record file is named after, or undefined when its name is not one wfctl writes. */
function resourceIdOfFile(name: string): string | undefined {
  if (!name.endsWith(".json")) return undefined;
  try {
    return decodeURIComponent(name.slice(0, -".json".length));
  } catch {
    return undefined;
  }
}

/** The record in the file at `path`, which must be the record of `resourceId` (the id its name encodes). */
function decodeRecord(text: string, path: string, resourceId: string | undefined): ResourceState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(raw) || raw["format"] !== FILESYSTEM_FORMAT || typeof raw["resource_id"] !== "string") {
    throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path} is not a ${FILESYSTEM_FORMAT} record`);
  }
  // A record under another resource's name would be taken for that resource
  // (and the one it names listed twice): refused, never guessed at.
  if (resourceId === undefined) throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path}: its name is not that of a record (<percent-encoded resource id>.json)`);
  if (raw["resource_id"] !== resourceId) {
    throw new WfctlError(
      ErrorCode.STATE_CORRUPT,
      `state file ${path} holds the record of "${raw["resource_id"]}", not of "${resourceId}" (the resource its name is for); ` +
        `nothing was changed. Put the record of "${resourceId}" back (from a backup), or remove the file if "${resourceId}" does not exist (the next plan then creates it)`,
      { details: [{ file: path, field: "resource_id", message: `holds the record of "${raw["resource_id"]}", not "${resourceId}"` }] },
    );
  }
  const str = (key: string) => (typeof raw[key] === "string" ? (raw[key] as string) : "");
  const obj = (key: string) => {
    const value = raw[key];
    if (value === undefined) return {};
    if (!isJsonObject(value)) throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path}: "${key}" is not an object`);
    return value;
  };
  const deps = raw["depends_on"];
  return {
    resourceId: str("resource_id"),
    resourceType: str("resource_type"),
    provider: str("provider"),
    status: str("status"),
    providerId: str("provider_id"),
    protected: raw["protected"] === true,
    dependsOn: Array.isArray(deps) ? deps.filter((d): d is string => typeof d === "string") : [],
    createdAt: str("created_at"),
    updatedAt: str("updated_at"),
    error: str("error"),
    config: obj("config"),
    outputs: obj("outputs"),
  };
}

/** A lock file's lock, or why it cannot be read (it still means "locked"). */
function decodeLock(text: string, resourceId: string): LockInfo | { unreadable: string } {
  if (text.trim() === "") return { unreadable: "it is empty" };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { unreadable: "it is not JSON" };
  }
  if (!isJsonObject(raw) || typeof raw["lockId"] !== "string" || raw["lockId"] === "") return { unreadable: "it names no lock id" };
  const str = (key: string, fallback: string) => (typeof raw[key] === "string" ? (raw[key] as string) : fallback);
  return {
    lockId: raw["lockId"],
    resourceId,
    holder: str("holder", "unknown"),
    operation: str("operation", "unknown"),
    createdAt: str("createdAt", "unknown time"),
    version: str("version", "unknown"),
  };
}

/**
 * LOCK_HELD for a lock file that cannot be read: it has no holder and no id,
 * so only a forced release removes it. The detail on field "lock_id" says
 * the id is unknown.
 */
function unreadableLockError(resourceId: string, path: string, why: string): WfctlError {
  return new WfctlError(
    ErrorCode.LOCK_HELD,
    `state lock "${resourceId}" is held, but its lock file ${path} cannot be read (${why}), so its holder and lock id are unknown`,
    { details: [{ file: path, field: "lock_id", message: `unreadable lock file (${why}): no lock id` }] },
  );
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}

export class FilesystemStateStore implements StateStore {
  private readonly resources: string;
  private readonly locks: string;

  private constructor(readonly root: string) {
    this.resources = join(root, "resources");
    this.locks = join(root, "locks");
  }

  /** Opens (creating with owner-only permissions) the store under `root`; failure is STATE_BACKEND_UNAVAILABLE. */
  static async open(root: string): Promise<FilesystemStateStore> {
    const store = new FilesystemStateStore(root);
    try {
      await makeDirectories(store.resources, 0o700);
      await makeDirectories(store.locks, 0o700);
      // Prove the directory is writable now, not halfway through an apply.
      await writeFileAtomic(join(root, ".wfctl-state"), root, `${FILESYSTEM_FORMAT}\n`);
    } catch (err) {
      throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `cannot open filesystem state at ${root}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    throwIfAborted(ctx);
    const path = join(this.resources, `${fileName(resourceId)}.json`);
    try {
      return decodeRecord(await readFile(path, { encoding: "utf8", signal: ctx.signal }), path, resourceId);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throwIfAborted(ctx);
      throw this.wrap(err, `read ${path}`);
    }
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    const path = join(this.resources, `${fileName(state.resourceId)}.json`);
    try {
      await writeFileAtomic(path, this.resources, encodeRecord(state));
    } catch (err) {
      throw this.wrap(err, `write ${path}`);
    }
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    throwIfAborted(ctx);
    let names: string[];
    try {
      names = await readdir(this.resources);
    } catch (err) {
      if (isMissing(err)) return [];
      throw this.wrap(err, `list ${this.resources}`);
    }
    const out: ResourceState[] = [];
    for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
      throwIfAborted(ctx);
      const path = join(this.resources, name);
      let text: string;
      try {
        text = await readFile(path, { encoding: "utf8", signal: ctx.signal });
      } catch (err) {
        if (isMissing(err)) continue; // deleted since the listing
        throwIfAborted(ctx);
        throw this.wrap(err, `read ${path}`);
      }
      const state = decodeRecord(text, path, resourceIdOfFile(name));
      if (matchesFilter(state, filter)) out.push(state);
    }
    return out;
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    const path = join(this.resources, `${fileName(resourceId)}.json`);
    try {
      await unlink(path);
      await syncDirectory(this.resources);
    } catch (err) {
      if (!isMissing(err)) throw this.wrap(err, `delete ${path}`);
    }
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const path = join(this.locks, `${fileName(resourceId)}.lock`);
    const lock: LockInfo = { ...request, lockId: randomUUID(), resourceId, createdAt: new Date().toISOString() };
    // Written in full first, then linked to the lock's name: a crash leaves a
    // stray temp file at worst, never an empty or half-written lock.
    let temp: string;
    try {
      temp = await writeTempFile(this.locks, `${JSON.stringify(lock, null, 2)}\n`);
    } catch (err) {
      throw this.wrap(err, `write lock ${path}`);
    }
    try {
      await link(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw await this.heldError(resourceId, path);
      throw this.wrap(err, `create lock ${path}`);
    } finally {
      await rm(temp, { force: true }).catch(() => {});
    }
    try {
      await syncDirectory(this.locks);
    } catch (err) {
      await unlink(path).catch(() => {});
      throw this.wrap(err, `create lock ${path}`);
    }
    return lock;
  }

  /** LOCK_HELD naming who holds the lock at `path`, or saying its file cannot be read. */
  private async heldError(resourceId: string, path: string): Promise<WfctlError> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      // Released between the link and the look: say so rather than retry silently.
      if (isMissing(err)) return new WfctlError(ErrorCode.LOCK_HELD, `the lock on "${resourceId}" (${path}) was just taken and released by someone else; try again`);
      return unreadableLockError(resourceId, path, (err as Error).message);
    }
    const held = decodeLock(text, resourceId);
    return "unreadable" in held ? unreadableLockError(resourceId, path, held.unreadable) : lockHeldError(held);
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    throwIfAborted(ctx);
    const path = join(this.locks, `${fileName(resourceId)}.lock`);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if (isMissing(err)) throw new WfctlError(ErrorCode.NOT_FOUND, `no lock is held on "${resourceId}" (${path})`);
      if (!options?.force) throw this.wrap(err, `read lock ${path}`);
      text = "";
    }
    const held = decodeLock(text, resourceId);
    if (!options?.force) {
      if ("unreadable" in held) {
        throw new WfctlError(ErrorCode.LOCK_HELD, `cannot unlock "${resourceId}" as ${lockId}: its lock file ${path} cannot be read (${held.unreadable}), so it has no id; only a forced release removes it`);
      }
      if (held.lockId !== lockId) throw new WfctlError(ErrorCode.LOCK_HELD, `cannot unlock "${resourceId}" as ${lockId}: it is held by ${held.holder} as ${held.lockId}`);
    }
    try {
      await unlink(path);
      await syncDirectory(this.locks);
    } catch (err) {
      if (!isMissing(err)) throw this.wrap(err, `remove lock ${path}`);
    }
  }

  async close(): Promise<void> {}

  private wrap(err: unknown, what: string): WfctlError {
    if (err instanceof WfctlError) return err;
    return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `filesystem state: ${what}: ${(err as Error).message}`, { cause: err });
  }
}
