// Files that readers see whole or not at all: written in full to a temp file
// and synced, then renamed (or linked) to their name, and the directory synced.
// What the filesystem state backend's records and lock files are made of.
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

/**
 * mkdir -p that always settles. Node's recursive mkdir loops forever where
 * mkdir answers ENOENT for a parent that exists (procfs): a state directory
 * under /proc/self held an operation, a CPU and the daemon's shutdown for good.
 */
export async function makeDirectories(path: string, mode: number): Promise<void> {
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

export async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** A new file in `dir` holding `data`, written in full and synced; its path. Removed again if that fails. */
export async function writeTempFile(dir: string, data: string): Promise<string> {
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

/**
 * `run` shared by its callers as a group commit: a call resolves once a run
 * that started after the call has finished (so it covers whatever the
 * caller did before calling), and calls made while one run is in flight
 * share the one run after it. Ten records saved at once cost two directory
 * syncs, not ten.
 */
export function groupCommit(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  return () => {
    if (next) return next;
    const start = async () => {
      await running?.catch(() => undefined);
      running = next;
      next = undefined;
      await run();
    };
    const mine = start().finally(() => {
      if (running === mine) running = undefined;
    });
    next = mine;
    return mine;
  };
}

const directorySyncs = new Map<string, () => Promise<void>>();

/** syncDirectory(dir), shared with the other writers of `dir` in flight (groupCommit). */
function syncDirectoryShared(dir: string): Promise<void> {
  let sync = directorySyncs.get(dir);
  if (!sync) {
    sync = groupCommit(() => syncDirectory(dir));
    directorySyncs.set(dir, sync);
  }
  return sync();
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
  await syncDirectoryShared(dir);
}

/** True for the error of a file that is not there. */
export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}
