// How the filesystem backend writes its records. In wfctld, in a worker
// thread (write-worker.ts): the daemon's event loop, which serves every
// client, then spends one message on a record instead of six trips through
// the thread pool (a 1,000-resource apply: a quarter to a third less daemon CPU). Records
// saved while a batch is being written form the next batch (a group commit:
// one directory sync for all of them). A record's promise resolves once it is
// renamed into place and its directory synced, as writeFileAtomic's does; if
// the thread dies, the records it held fail (each may or may not have reached
// the disk, as with any failed write) and the next record starts a new
// thread. Elsewhere (--no-daemon, one short process) records are written
// from the event loop with writeFileAtomic: a thread takes longer to start
// (about 70 ms) than a few records take to write.
import { Worker } from "node:worker_threads";
import { workerScript } from "../worker-script.js";
import { writeFileAtomic } from "./atomic-files.js";
import type { WriteJob, WriteOutcome } from "./write-worker.js";

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A failed write as the worker reported it: its message and errno code (ENOSPC, EACCES…). */
class WriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Whether records go through the thread (wfctld turns it on at start). */
let threaded = false;
let thread: Worker | undefined;
/** Records saved since the batch in flight was sent: the next batch. */
let queued: WriteJob[] = [];
/** The batch the thread is writing (empty when none is). */
let sent: WriteJob[] = [];
/** The caller of every record not yet answered, queued or sent, by job id. */
const waiters = new Map<number, Waiter>();
let nextId = 0;

function startThread(): Worker {
  const worker = new Worker(workerScript("state/write-worker.js"));
  worker.on("message", (outcomes: WriteOutcome[]) => {
    if (worker !== thread) return;
    sent = [];
    for (const { id, error } of outcomes) settle(id, error && new WriteError(error.message, error.code));
    sendQueued();
  });
  const died = (why: string) => {
    if (worker !== thread) return;
    thread = undefined;
    const lost = sent;
    sent = [];
    for (const job of lost) settle(job.id, new WriteError(`the state writer thread ${why}`, undefined));
    sendQueued();
  };
  worker.on("error", (err: Error) => died(`failed: ${err.message}`));
  worker.on("messageerror", (err: Error) => died(`could not read an answer: ${err.message}`));
  worker.on("exit", (code) => died(`stopped (exit code ${code})`));
  return worker;
}

function settle(id: number, error: Error | undefined): void {
  const waiter = waiters.get(id);
  waiters.delete(id);
  if (error) waiter?.reject(error);
  else waiter?.resolve();
}

/** Sends what is queued, unless a batch is being written (its answer sends the rest). */
function sendQueued(): void {
  if (sent.length > 0) return;
  if (queued.length === 0) {
    // Idle: the thread stays, warm, but keeps no process alive.
    thread?.unref();
    return;
  }
  try {
    thread ??= startThread();
  } catch (err) {
    // The worker's module cannot be found: the records fail, the daemon goes on.
    const failed = queued;
    queued = [];
    for (const job of failed) settle(job.id, err as Error);
    return;
  }
  thread.ref();
  sent = queued;
  queued = [];
  thread.postMessage(sent);
}

/** Writes records through the thread from now on (wfctld, at start). */
export function useRecordWriterThread(): void {
  threaded = true;
}

/** Starts the thread ahead of the first record (a store opened), if records go through it. */
export function warmRecordWriter(): void {
  if (!threaded || thread) return;
  try {
    thread = startThread();
    thread.unref();
  } catch {
    // The worker's module cannot be found: the first record says so.
  }
}

/** Writes `data` to `path` (in `dir`) so that readers see the old file or the new one, never a mix; resolves once it is durable. */
export function writeRecordFile(path: string, dir: string, data: string): Promise<void> {
  if (!threaded) return writeFileAtomic(path, dir, data);
  return new Promise((resolve, reject) => {
    const id = nextId++;
    waiters.set(id, { resolve, reject });
    queued.push({ id, path, dir, data });
    // Records saved in the same turn of the event loop go in one batch.
    if (queued.length === 1) queueMicrotask(sendQueued);
  });
}

/** Stops the writer thread (for a test that kills it mid-batch: its records fail, the next write starts another). */
export async function stopRecordWriter(): Promise<void> {
  await thread?.terminate();
}
