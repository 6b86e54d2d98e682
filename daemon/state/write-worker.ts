// The thread the filesystem backend's records are written in
// (record-writer.ts sends them). Each record is written the way
// atomic-files.ts writes a file (a new temp file, written in full, synced,
// renamed over the record, then its directory synced), with blocking calls:
// in this thread a record costs five system calls and no event-loop turns,
// where on the daemon's event loop each call was a trip through libuv's
// thread pool and back (an apply's state writes were a fifth of the daemon's
// main-thread time). A batch syncs each directory once, after all its
// renames, and a record is answered only after that sync.
import * as fs from "node:fs";
import { join } from "node:path";
import { parentPort, threadId } from "node:worker_threads";

/** A record to write: `data` to `path` (in `dir`), atomically. */
export interface WriteJob {
  id: number;
  path: string;
  dir: string;
  data: string;
}

/** A job's outcome: no error once the record and its directory are synced. */
export interface WriteOutcome {
  id: number;
  error?: { message: string; code: string | undefined };
}

/** Temp files of this thread: unique among live processes (pid, thread, count); a dead process's leftover is stepped over. */
let written = 0;

function tempName(dir: string): string {
  return join(dir, `.${process.pid}-${threadId}-${written++}.tmp`);
}

/** Opens a new temp file in `dir` (stepping over a name a dead process of the same pid left); its path and descriptor. */
function openTemp(dir: string): { temp: string; file: number } {
  for (;;) {
    const temp = tempName(dir);
    try {
      return { temp, file: fs.openSync(temp, "wx", 0o600) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

/** Writes one record up to its rename; its directory is synced by the caller. */
function writeRecord(job: WriteJob): void {
  const { temp, file } = openTemp(job.dir);
  try {
    try {
      fs.writeFileSync(file, job.data, "utf8");
      fs.fsyncSync(file);
    } finally {
      fs.closeSync(file);
    }
    fs.renameSync(temp, job.path);
  } catch (err) {
    try {
      fs.rmSync(temp, { force: true });
    } catch {
      // The write's own error is the one to report; a temp file left is stepped over.
    }
    throw err;
  }
}

function syncDirectory(dir: string): void {
  const file = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(file);
  } finally {
    fs.closeSync(file);
  }
}

function failure(err: unknown): WriteOutcome["error"] {
  const e = err as NodeJS.ErrnoException;
  return { message: e instanceof Error ? e.message : String(err), code: e?.code };
}

/** Writes a batch: every record, then each directory written to once; an outcome per job. */
export function writeBatch(jobs: readonly WriteJob[]): WriteOutcome[] {
  const outcomes: WriteOutcome[] = [];
  const renamed = new Map<string, number[]>();
  for (const job of jobs) {
    try {
      writeRecord(job);
      const ids = renamed.get(job.dir) ?? [];
      ids.push(job.id);
      renamed.set(job.dir, ids);
    } catch (err) {
      outcomes.push({ id: job.id, error: failure(err) });
    }
  }
  for (const [dir, ids] of renamed) {
    let error: WriteOutcome["error"];
    try {
      syncDirectory(dir);
    } catch (err) {
      error = failure(err);
    }
    for (const id of ids) outcomes.push(error ? { id, error } : { id });
  }
  return outcomes;
}

parentPort?.on("message", (jobs: WriteJob[]) => parentPort?.postMessage(writeBatch(jobs)));
