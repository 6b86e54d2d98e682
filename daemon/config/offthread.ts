// Configurations are parsed and checked in worker threads (parse-worker.ts),
// each job with a time budget: past it the worker is stopped and the request
// fails with CONFIG_INVALID naming the file. The event loop that serves every
// client never runs the parser, so a huge or pathological file costs its own
// caller time, and no one else anything.
import { Worker } from "node:worker_threads";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { workerScript } from "../worker-script.js";
import type { ParseJob, ParseReply } from "./parse-worker.js";

/** Workers at most at once: configurations of concurrent requests parse side by side, and a flood queues. */
const MAX_WORKERS = 2;
/**
 * A second worker, once idle, is stopped after this long; the first stays,
 * warm (a cold one takes about half a second to start, more on a busy host).
 */
const IDLE_MS = 60_000;
/** After a job on a text this large, the worker is stopped: its heap grew for it (a 10 MiB file: about 1 GiB). */
const BIG_JOB_CHARS = 1024 * 1024;
/**
 * Jobs that may wait for a worker. Each holds its file's text (up to the size
 * limit): past this many, a request is refused at once rather than queued.
 */
const MAX_WAITING = 32;
/** Heap a worker may use (a 10 MiB file needs about a tenth of it); past it the worker dies, not the daemon. */
const WORKER_HEAP_MB = 1536;

interface Slot {
  worker: Worker;
  dead: boolean;
  /** Settles the job it runs (undefined when idle). */
  settle: ((reply: ParseReply | WfctlError) => void) | undefined;
  idleTimer: NodeJS.Timeout | undefined;
}

const slots = new Set<Slot>();
const idle: Slot[] = [];
const waiting: ((slot: Slot) => void)[] = [];

function startWorker(): Slot {
  const worker = new Worker(workerScript("config/parse-worker.js"), { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
  const slot: Slot = { worker, dead: false, settle: undefined, idleTimer: undefined };
  slots.add(slot);
  worker.on("message", (reply: ParseReply) => slot.settle?.(reply));
  // A worker that dies (out of memory, a crash) fails its job; it is never reused.
  const died = (why: string) => {
    if (slot.dead) return;
    slot.dead = true;
    const wasMember = slots.delete(slot);
    const at = idle.indexOf(slot);
    if (at >= 0) idle.splice(at, 1);
    clearTimeout(slot.idleTimer);
    slot.settle?.(new WfctlError(ErrorCode.CONFIG_INVALID, why));
    // Its place goes to the next job waiting, if any.
    const next = wasMember ? waiting.shift() : undefined;
    if (next) next(startWorker());
  };
  worker.on("error", (err: Error & { code?: string }) =>
    died(err.code === "ERR_WORKER_OUT_OF_MEMORY" ? `needs more than ${WORKER_HEAP_MB} MiB to parse` : `its parser failed: ${err.message}`),
  );
  worker.on("messageerror", (err: Error) => died(`its parser's answer could not be read: ${err.message}`));
  worker.on("exit", (code) => died(`its parser stopped (exit code ${code})`));
  return slot;
}

/** Stops a worker; its 'exit' does the rest (terminate() itself never fails in a way that matters here). */
function stop(worker: Worker): void {
  worker.terminate().catch(() => {});
}

/** A worker for one job: an idle one, a new one while under MAX_WORKERS, or the next one freed. */
function acquire(): Promise<Slot> {
  const slot = idle.pop();
  if (slot) {
    clearTimeout(slot.idleTimer);
    return Promise.resolve(slot);
  }
  if (slots.size < MAX_WORKERS) return Promise.resolve(startWorker());
  if (waiting.length >= MAX_WAITING) {
    return Promise.reject(new WfctlError(ErrorCode.DAEMON_UNAVAILABLE, `wfctld is parsing ${MAX_WORKERS + waiting.length} configurations already; try again in a moment`));
  }
  return new Promise((resolve) => waiting.push(resolve));
}

function release(slot: Slot, big: boolean): void {
  slot.settle = undefined;
  if (!slots.has(slot)) return;
  if (big) return discard(slot);
  const next = waiting.shift();
  if (next) return next(slot);
  slot.worker.unref();
  if (idle.length > 0) slot.idleTimer = setTimeout(() => stop(slot.worker), IDLE_MS).unref();
  idle.push(slot);
}

/** Starts a worker ahead of the first job (wfctld, at start), so that its start-up is not the first command's. */
export function warmConfigParser(): void {
  if (slots.size > 0) return;
  const slot = startWorker();
  slot.worker.unref();
  idle.push(slot);
}

/** Stops a worker (its job ran too long, or grew its heap), and lets a waiting job start a fresh one. */
function discard(slot: Slot): void {
  slot.dead = true;
  slots.delete(slot);
  slot.settle = undefined;
  stop(slot.worker);
  const next = waiting.shift();
  if (next) next(startWorker());
}

/**
 * Runs `job` in a worker, within `timeoutMs` (0: no limit). Resolves with the
 * worker's answer (a failure is an answer too); rejects with CONFIG_INVALID
 * naming the file when the budget runs out or the worker dies.
 */
export async function parseOffThread(job: ParseJob, timeoutMs: number): Promise<Extract<ParseReply, { ok: true }>> {
  const slot = await acquire();
  slot.worker.ref();
  const outcome = await new Promise<ParseReply | WfctlError>((resolve) => {
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            discard(slot);
            resolve(new WfctlError(ErrorCode.CONFIG_INVALID, `took longer than ${timeoutMs} ms to parse and check (wfctld --config-timeout); it is too large or too complex`));
          }, timeoutMs)
        : undefined;
    slot.settle = (reply) => {
      clearTimeout(timer);
      resolve(reply);
    };
    slot.worker.postMessage(job);
  });
  if (outcome instanceof WfctlError) {
    const why = `cannot use ${job.file}: ${outcome.message}`;
    throw new WfctlError(outcome.code, why, { details: [{ file: job.file, message: outcome.message }] });
  }
  release(slot, job.text.length > BIG_JOB_CHARS);
  if (!outcome.ok) {
    const { code, message, details, omitted } = outcome.error;
    throw new WfctlError(code, message, { details, omitted });
  }
  return outcome;
}
