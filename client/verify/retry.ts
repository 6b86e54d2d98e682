// Retrying health checks: every target at once, each tried until it is
// healthy, out of attempts, or out of time (the verify timeout is one
// deadline for all targets); Ctrl-C stops them all at once. Each attempt is
// limited by its own timeout and by the time left, so no attempt outlives
// the deadline; between attempts a target waits its interval, and gives up
// at once when the next attempt could not start before the deadline.
import { setTimeout as sleep } from "node:timers/promises";
import type { VerifyTarget } from "../config.js";
import { type AttemptResult, type Probe, probe as realProbe } from "./probe.js";

/** Why a target stopped being tried without becoming healthy. */
export type GaveUp = "attempts" | "timeout" | "interrupted";

/** How one target went. */
export interface TargetReport {
  target: VerifyTarget;
  ok: boolean;
  /** Attempts made, the last one included. */
  attempts: number;
  /** From the first attempt's start to the last one's end. */
  elapsedMs: number;
  /** The last attempt's result: `HTTP 200`, or why it failed; `not checked` when none was made. */
  detail: string;
  /** The last HTTP status received, if any. */
  status: number | undefined;
  /** Set when not ok. */
  gaveUp: GaveUp | undefined;
}

/** A failed attempt, as it happens (for progress lines); `nextInMs` is undefined when it was the last. */
export interface FailedAttempt {
  target: VerifyTarget;
  attempt: number;
  result: AttemptResult;
  nextInMs: number | undefined;
}

/** One run of verify: its deadline, Ctrl-C, and who hears about progress. */
export interface VerifyRun {
  /** The deadline of the whole run, all targets together. */
  timeoutMs: number;
  /** Stops every target (Ctrl-C). */
  signal: AbortSignal;
  /** Called after each failed attempt. */
  onFailedAttempt?: (failure: FailedAttempt) => void;
  /** Called when a target is settled, healthy or not. */
  onSettled?: (report: TargetReport) => void;
  /** What makes one attempt; the network probe unless given. */
  probe?: Probe;
}

/** Checks every target in parallel; reports in the targets' order. */
export async function verifyTargets(targets: readonly VerifyTarget[], run: VerifyRun): Promise<TargetReport[]> {
  const deadline = performance.now() + run.timeoutMs;
  return Promise.all(
    targets.map(async (target) => {
      const report = await checkTarget(target, deadline, run);
      run.onSettled?.(report);
      return report;
    }),
  );
}

/** Tries one target until healthy, out of attempts, past `deadline` (a performance.now() time), or stopped. */
export async function checkTarget(target: VerifyTarget, deadline: number, run: VerifyRun): Promise<TargetReport> {
  const probe = run.probe ?? realProbe;
  const started = performance.now();
  let attempts = 0;
  let last: AttemptResult | undefined;
  let status: number | undefined;
  const report = (ok: boolean, gaveUp?: GaveUp): TargetReport => ({
    target,
    ok,
    attempts,
    elapsedMs: Math.round(performance.now() - started),
    detail: last?.detail ?? "not checked",
    status,
    gaveUp: ok ? undefined : gaveUp,
  });
  for (;;) {
    if (run.signal.aborted) return report(false, "interrupted");
    const left = deadline - performance.now();
    if (left <= 0) return report(false, "timeout");
    attempts++;
    const limit = Math.min(target.attemptTimeoutMs, left);
    const result = await probe(target.check, limit, run.signal);
    if (result.stopped) {
      // Stopped by Ctrl-C: that attempt says nothing about the target.
      last ??= { ok: false, detail: "no answer yet" };
      return report(false, "interrupted");
    }
    // An attempt the run's deadline cut short (a late timer on a busy host can
    // leave it a millisecond) says less than the full attempt before it.
    const cutShort = result.timedOut === true && limit < target.attemptTimeoutMs && last !== undefined;
    if (!cutShort) last = result;
    if (result.status !== undefined) status = result.status;
    if (result.ok) return report(true);
    const more = target.attempts === undefined || attempts < target.attempts;
    // No next attempt when it could only start at or after the deadline.
    const timeLeft = deadline - performance.now() > target.intervalMs;
    run.onFailedAttempt?.({ target, attempt: attempts, result, nextInMs: more && timeLeft ? target.intervalMs : undefined });
    if (!more) return report(false, "attempts");
    if (!timeLeft) return report(false, "timeout");
    try {
      await sleep(target.intervalMs, undefined, { signal: run.signal });
    } catch {
      return report(false, "interrupted");
    }
  }
}
