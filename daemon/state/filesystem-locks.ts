// The filesystem backend's locks: one file per lock under locks/, named after
// the lock's percent-encoded name, holding the LockInfo of its holder (host
// and pids included). A lock file appears complete or not at all (written
// in full to a temp file, then linked to its name, which fails if the lock
// is held). A lock file that cannot be read still means "locked": it has no
// id, and only a forced unlock removes it.
import { randomUUID } from "node:crypto";
import { link, readFile, readdir, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { WfctlError } from "../../proto/errors.js";
import { isJsonObject } from "../../proto/json.js";
import {
  type LockInfo,
  type LockRequest,
  type StoreContext,
  LOCK_ATTEMPTS,
  lockHeldError,
  lockKeptChanging,
  lockOrigin,
  newLock,
  noLockHeld,
  throwIfAborted,
  unlockRefused,
  unreadableLock,
} from "../../proto/state-store.js";
import { isMissing, syncDirectory, writeTempFile } from "./atomic-files.js";

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
    ...lockOrigin(raw),
  };
}

/** What a lock file that cannot be read says of itself: held, with no id and no holder. */
function unreadableLockInfo(resourceId: string, path: string, why: string): LockInfo {
  return unreadableLock(resourceId, `its lock file ${path} cannot be read (${why})`);
}

/**
 * LOCK_HELD for a lock file that cannot be read: it has no holder and no id,
 * so only a forced release removes it. The detail on field "lock_id" says
 * the id is unknown.
 */
function unreadableLockError(resourceId: string, path: string, why: string): WfctlError {
  return lockHeldError(
    unreadableLockInfo(resourceId, path, why),
    `state lock "${resourceId}" is held, but its lock file ${path} cannot be read (${why}), so its holder and lock id are unknown`,
    [{ file: path, field: "lock_id", message: `unreadable lock file (${why}): no lock id` }],
  );
}

/** The lock files of one state directory. */
export class LockFiles {
  constructor(
    private readonly dir: string,
    /** A failure of the filesystem as the store reports it (STATE_BACKEND_UNAVAILABLE). */
    private readonly wrap: (err: unknown, what: string) => WfctlError,
    /** A lock's name as a file name (refusing names that could step outside the directory). */
    private readonly fileName: (resourceId: string) => string,
  ) {}

  private pathOf(resourceId: string): string {
    return join(this.dir, `${this.fileName(resourceId)}.lock`);
  }

  async take(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const path = this.pathOf(resourceId);
    const lock = newLock(resourceId, request, randomUUID());
    for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
      if (await this.linkLock(path, lock)) return lock;
      const held = await this.heldLock(resourceId, path);
      // Released between the link and the look: try again.
      if (held) throw "unreadable" in held ? unreadableLockError(resourceId, path, held.unreadable) : lockHeldError(held);
      throwIfAborted(ctx);
    }
    throw lockKeptChanging(resourceId, path);
  }

  /** Creates the lock file naming `lock`; false when a lock file is there already. */
  private async linkLock(path: string, lock: LockInfo): Promise<boolean> {
    // Written in full first, then linked to the lock's name: a crash leaves a
    // stray temp file at worst, never an empty or half-written lock.
    let temp: string;
    try {
      temp = await writeTempFile(this.dir, `${JSON.stringify(lock, null, 2)}\n`);
    } catch (err) {
      throw this.wrap(err, `write lock ${path}`);
    }
    try {
      await link(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw this.wrap(err, `create lock ${path}`);
    } finally {
      await rm(temp, { force: true }).catch(() => {});
    }
    try {
      await syncDirectory(this.dir);
    } catch (err) {
      await unlink(path).catch(() => {});
      throw this.wrap(err, `create lock ${path}`);
    }
    return true;
  }

  /** The lock in the file at `path` (or why it cannot be read); undefined when there is none. */
  private async heldLock(resourceId: string, path: string): Promise<LockInfo | { unreadable: string } | undefined> {
    try {
      return decodeLock(await readFile(path, "utf8"), resourceId);
    } catch (err) {
      return isMissing(err) ? undefined : { unreadable: (err as Error).message };
    }
  }

  async release(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    throwIfAborted(ctx);
    const path = this.pathOf(resourceId);
    const held = await this.heldLock(resourceId, path);
    if (!held) throw noLockHeld(resourceId, path);
    if (!options?.force) {
      if ("unreadable" in held) throw unlockRefused(resourceId, lockId, unreadableLockInfo(resourceId, path, held.unreadable));
      if (held.lockId !== lockId) throw unlockRefused(resourceId, lockId, held);
    }
    try {
      await unlink(path);
      await syncDirectory(this.dir);
    } catch (err) {
      if (!isMissing(err)) throw this.wrap(err, `remove lock ${path}`);
    }
  }

  /** Every lock file under locks/, as its lock (one that cannot be read: no id, its reason as holder). */
  async list(ctx: StoreContext): Promise<LockInfo[]> {
    throwIfAborted(ctx);
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isMissing(err)) return [];
      throw this.wrap(err, `list ${this.dir}`);
    }
    const out: LockInfo[] = [];
    for (const name of names.filter((n) => n.endsWith(".lock") && !n.startsWith(".")).sort()) {
      throwIfAborted(ctx);
      let resourceId: string;
      try {
        resourceId = decodeURIComponent(name.slice(0, -".lock".length));
      } catch {
        continue; // not a name wfctl writes
      }
      const path = join(this.dir, name);
      const held = await this.heldLock(resourceId, path);
      if (held) out.push("unreadable" in held ? unreadableLockInfo(resourceId, path, held.unreadable) : held);
    }
    return out;
  }
}
