// When to restart a plugin that died, and when to stop trying: exponential
// backoff with jitter, bounded; a plugin that crashes too often in a short
// window is parked (left stopped, its last words kept) instead of restarted
// forever.

export interface RestartPolicy {
  /** Delay before the first restart after a crash. */
  initialDelayMs: number;
  /** Each further consecutive crash multiplies the delay by this... */
  multiplier: number;
  /** ...up to this bound. */
  maxDelayMs: number;
  /** Each delay is spread by up to ± this fraction, so crashed plugins do not restart in lockstep. */
  jitter: number;
  /** This many crashes within `windowMs` park the plugin. */
  maxCrashes: number;
  windowMs: number;
  /** A parked plugin is tried again on demand after this long. */
  parkMs: number;
  /** An instance that ran this long before dying starts the backoff over. */
  stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 250,
  multiplier: 2,
  maxDelayMs: 30_000,
  jitter: 0.2,
  maxCrashes: 5,
  windowMs: 60_000,
  parkMs: 5 * 60_000,
  stableAfterMs: 60_000,
};

/** Delay before restart number `attempt` (1 = first restart after a crash). */
export function restartDelay(attempt: number, policy: RestartPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** Math.max(0, attempt - 1));
  const spread = base * policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(policy.maxDelayMs, Math.round(base + spread)));
}

/** The crashes of one plugin instance slot, and what to do about the latest. */
export class CrashHistory {
  private readonly times: number[] = [];
  /** Consecutive crashes of short-lived instances (drives the backoff). */
  consecutive = 0;

  constructor(private readonly policy: RestartPolicy) {}

  /** Records a crash of an instance that had run for `ranMs`; says whether to restart (after how long) or park. */
  record(now: number, ranMs: number): { action: "restart"; delayMs: number } | { action: "park"; crashes: number } {
    this.times.push(now);
    while (this.times.length > 0 && (this.times[0] as number) <= now - this.policy.windowMs) this.times.shift();
    this.consecutive = ranMs >= this.policy.stableAfterMs ? 1 : this.consecutive + 1;
    if (this.times.length >= this.policy.maxCrashes) return { action: "park", crashes: this.times.length };
    return { action: "restart", delayMs: restartDelay(this.consecutive, this.policy) };
  }

  /** Forgets everything (after a park expires, or an operator restart). */
  reset(): void {
    this.times.length = 0;
    this.consecutive = 0;
  }
}
