// State locks this daemon took and could not release. A release is retried
// at once with backoff for a few seconds; a lock still held after that is
// kept here, by the identity of its store and namespace, and retried in the
// background (with backoff, for a bounded time, then logged as given up), and
// retried first whenever an operation of this daemon is about to take a lock
// in the same place, so that a re-run once the store is back never trips over
// its own daemon's orphan. `wfctl daemon status` lists what is kept here.
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type StateStore, storeTimeout } from "../../proto/state-store.js";
import type { Target } from "./request.js";

/** How releases are retried; the defaults suit a daemon, tests may shorten them. */
export interface ReleaseSchedule {
  /** Waits between the attempts made at once, before the operation reports (their count bounds them). */
  immediateDelaysMs: readonly number[];
  /** Limit of one attempt. */
  attemptTimeoutMs: number;
  /** First and longest wait between background attempts (doubling in between, ±20 % jitter). */
  backgroundFirstMs: number;
  backgroundMaxMs: number;
  /** How long after the first failure the background attempts go on. */
  giveUpAfterMs: number;
}

export const DEFAULT_RELEASE_SCHEDULE: ReleaseSchedule = {
  immediateDelaysMs: [200, 500, 1_000, 2_000],
  attemptTimeoutMs: 10_000,
  backgroundFirstMs: 1_000,
  backgroundMaxMs: 30_000,
  giveUpAfterMs: 10 * 60_000,
};

/** A lock to release, and what to say about it. */
export interface LockToRelease {
  /** Identity of the store and namespace it is in (see stateIdentity). */
  key: string;
  /** The lock's name in the store ("stack") and id. */
  resourceId: string;
  lockId: string;
  /** Where, for people: backend, namespace, lock name. */
  scope: string;
  operation: string;
  operationId: string;
  target: Target;
  /** The command that releases it by hand. */
  unlockCommand: string;
  /** Opens its store again, for a background attempt (the operation's own store is closed by then). */
  reopen(signal: AbortSignal): Promise<StateStore>;
}

/** A release that failed, as `daemon status` shows it. */
export interface PendingRelease {
  lock: LockToRelease;
  failedAt: Date;
  givesUpAt: Date;
  attempts: number;
  lastError: string;
}

interface Kept extends PendingRelease {
  /** The attempt running now, so that two never overlap. */
  busy: Promise<void> | undefined;
  timer: NodeJS.Timeout | undefined;
  nextDelayMs: number;
}

/** The outcome of one attempt: released (or no longer ours to release), or the error. */
type Attempt = { released: true; how: string } | { released: false; error: WfctlError };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One release attempt, bounded in time. A lock already gone, or held by someone else now, is no longer ours: done. */
async function attempt(store: StateStore, lock: LockToRelease, timeoutMs: number): Promise<Attempt> {
  try {
    await store.unlock(lock.resourceId, lock.lockId, storeTimeout(timeoutMs));
    return { released: true, how: "released" };
  } catch (err) {
    const error = WfctlError.from(err);
    if (error.code === ErrorCode.NOT_FOUND) return { released: true, how: "already released by someone else" };
    if (error.code === ErrorCode.LOCK_HELD) return { released: true, how: `released by someone else, and taken again since (${error.message})` };
    return { released: false, error };
  }
}

export class LockReleases {
  private readonly pending = new Map<string, Kept>();

  constructor(
    private readonly logger: Logger,
    private readonly options: { background: boolean; schedule?: ReleaseSchedule } = { background: true },
  ) {}

  private get schedule(): ReleaseSchedule {
    return this.options.schedule ?? DEFAULT_RELEASE_SCHEDULE;
  }

  /**
   * Releases `lock`, retrying with backoff a few times. Undefined once it is
   * released; otherwise the warning for the operation's caller, and the
   * lock is kept for retries (in the background, if this engine does them).
   */
  async release(store: StateStore, lock: LockToRelease, log: Logger): Promise<string | undefined> {
    let last: Attempt = await attempt(store, lock, this.schedule.attemptTimeoutMs);
    for (const delay of this.schedule.immediateDelaysMs) {
      if (last.released) break;
      log.warn({ err: last.error.message, lock: lock.lockId, retry_in_ms: delay }, "could not release the state lock; retrying");
      await sleep(delay);
      last = await attempt(store, lock, this.schedule.attemptTimeoutMs);
    }
    if (last.released) return undefined;
    const attempts = this.schedule.immediateDelaysMs.length + 1;
    const failedAt = new Date();
    const kept: Kept = {
      lock,
      failedAt,
      givesUpAt: new Date(failedAt.getTime() + this.schedule.giveUpAfterMs),
      attempts,
      lastError: last.error.message,
      busy: undefined,
      timer: undefined,
      nextDelayMs: this.schedule.backgroundFirstMs,
    };
    this.pending.set(lock.lockId, kept);
    log.error({ err: last.error.message, lock: lock.lockId, attempts, scope: lock.scope }, "could not release the state lock; it is kept for retries");
    if (this.options.background) this.scheduleRetry(kept);
    const why = `the state lock ${lock.lockId} (${lock.scope}) could not be released after ${attempts} attempts: ${last.error.message}`;
    return this.options.background
      ? `${why}. wfctld retries in the background for ${Math.round(this.schedule.giveUpAfterMs / 60_000)} minutes (\`wfctl daemon status\` lists it), ` +
          `and first thing when this daemon next takes that lock. If it is still held after that, release it with: ${lock.unlockCommand}`
      : `${why}. Once the state store is reachable, release it with: ${lock.unlockCommand}`;
  }

  /** Before an operation takes a lock in store `key`: this daemon's unreleased locks there, retried once now. */
  async settle(key: string, store: StateStore): Promise<void> {
    for (const kept of [...this.pending.values()].filter((k) => k.lock.key === key)) {
      await this.retry(kept, store);
    }
  }

  /** The release kept for lock `lockId`, if its release failed and it is still being retried. */
  get(lockId: string): PendingRelease | undefined {
    return this.pending.get(lockId);
  }

  /** Stops retrying a lock released by other means (`wfctl infra state unlock`). */
  forget(lockId: string): void {
    const kept = this.pending.get(lockId);
    if (!kept) return;
    clearTimeout(kept.timer);
    this.pending.delete(lockId);
  }

  /** Locks awaiting release, oldest failure first. */
  list(): PendingRelease[] {
    return [...this.pending.values()]
      .sort((a, b) => a.failedAt.getTime() - b.failedAt.getTime())
      .map(({ lock, failedAt, givesUpAt, attempts, lastError }) => ({ lock, failedAt, givesUpAt, attempts, lastError }));
  }

  /**
   * One more attempt on `kept` (never two at once), in `store` or, without
   * one, in its store opened again (and closed after); forgotten once released.
   */
  private async retry(kept: Kept, store?: StateStore): Promise<void> {
    while (kept.busy) await kept.busy;
    if (this.pending.get(kept.lock.lockId) !== kept) return;
    const run = async () => {
      let outcome: Attempt;
      let opened: StateStore | undefined;
      try {
        opened = store ? undefined : await kept.lock.reopen(AbortSignal.timeout(this.schedule.attemptTimeoutMs));
        outcome = await attempt(store ?? (opened as StateStore), kept.lock, this.schedule.attemptTimeoutMs);
      } catch (err) {
        outcome = { released: false, error: WfctlError.from(err) };
      } finally {
        await opened?.close().catch(() => {});
      }
      kept.attempts++;
      if (outcome.released) {
        this.forget(kept.lock.lockId);
        this.logger.info({ lock: kept.lock.lockId, scope: kept.lock.scope, attempts: kept.attempts, how: outcome.how }, "state lock released on retry");
      } else {
        kept.lastError = outcome.error.message;
      }
    };
    kept.busy = run();
    try {
      await kept.busy;
    } finally {
      kept.busy = undefined;
    }
  }

  /** The next background attempt on `kept`, with backoff; given up (and logged with the command) past its time. */
  private scheduleRetry(kept: Kept): void {
    const jitter = 1 + (Math.random() * 0.4 - 0.2);
    const delay = Math.min(kept.nextDelayMs, this.schedule.backgroundMaxMs) * jitter;
    kept.nextDelayMs = Math.min(kept.nextDelayMs * 2, this.schedule.backgroundMaxMs);
    kept.timer = setTimeout(() => {
      this.backgroundAttempt(kept).catch((err: unknown) => this.logger.error({ err: (err as Error).message, lock: kept.lock.lockId }, "state lock release retry failed"));
    }, delay);
    kept.timer.unref();
  }

  private async backgroundAttempt(kept: Kept): Promise<void> {
    await this.retry(kept).catch((err: unknown) => {
      kept.lastError = (err as Error).message;
    });
    if (this.pending.get(kept.lock.lockId) !== kept) return;
    if (Date.now() < kept.givesUpAt.getTime()) {
      this.scheduleRetry(kept);
      return;
    }
    this.pending.delete(kept.lock.lockId);
    this.logger.error(
      { lock: kept.lock.lockId, scope: kept.lock.scope, attempts: kept.attempts, err: kept.lastError },
      `gave up releasing the state lock after ${kept.attempts} attempts; release it with: ${kept.lock.unlockCommand}`,
    );
  }
}
