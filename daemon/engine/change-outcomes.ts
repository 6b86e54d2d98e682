// How each change of an apply ended, from how its steps did (apply-order.ts):
// the events that say so, as its steps settle, and its outcome in the
// report. A replace's steps each say when they start and finish (the
// event's message names the step); only the last one's finish counts as
// the replace's. A change says once that it failed or was skipped: the
// steps after a failed one are skipped because of it.
import type { WfctlError } from "../../proto/errors.js";
import type { ApplyStep } from "./apply-order.js";
import type { ResourceEvent } from "./events.js";
import type { ChangeAction, PlannedChange } from "./plan-model.js";
import type { TaskOutcome } from "./scheduler.js";

export interface ResourceOutcome {
  name: string;
  type: string;
  action: ChangeAction;
  outcome: "succeeded" | "failed" | "skipped";
  error: WfctlError | undefined;
  elapsedMs: number;
  /** Why it was not attempted (skipped only). */
  skippedReason: string;
}

/** Why the rest of a change was skipped after its first step (`done`) succeeded. */
function halfDone(step: ApplyStep, reason: string): string {
  return step.change.createBeforeDestroy
    ? `the new one was created, but the old one not deleted (state keeps it as a deposed record, which the next apply deletes): ${reason}`
    : `the old one was deleted, but the new one not created (the next apply creates it): ${reason}`;
}

export class ChangeOutcomes {
  /** Changes that have said they failed or were skipped, with the reason given for a skip. */
  private readonly ended = new Map<PlannedChange, string>();
  /** Changes with a step that succeeded. */
  private readonly begun = new Set<PlannedChange>();

  /** The event for `step` settling as `outcome`, or undefined when its change has said how it ended already. */
  add(step: ApplyStep, outcome: TaskOutcome): ResourceEvent | undefined {
    const { change } = step;
    const about = { kind: "resource", name: change.name, type: change.type, action: change.action } as const;
    if (outcome.outcome === "succeeded") {
      this.begun.add(change);
      const durationMs = Math.round(outcome.elapsedMs);
      return step.part === "whole" ? { ...about, phase: "finished", durationMs } : { ...about, phase: "finished", durationMs, message: step.part, partial: !step.last };
    }
    if (this.ended.has(change)) return undefined;
    if (outcome.outcome === "failed") {
      this.ended.set(change, "");
      return { ...about, phase: "failed", durationMs: Math.round(outcome.elapsedMs), errorCode: outcome.error.code, message: outcome.error.message };
    }
    const reason = this.begun.has(change) ? halfDone(step, outcome.reason) : outcome.reason;
    this.ended.set(change, reason);
    return { ...about, phase: "skipped", message: reason };
  }

  /** How `change` ended, from how its steps did (undefined: never settled). */
  outcomeOf(change: PlannedChange, steps: readonly { step: ApplyStep; outcome: TaskOutcome | undefined }[]): ResourceOutcome {
    const about = { name: change.name, type: change.type, action: change.action };
    const elapsedMs = steps.reduce((sum, { outcome }) => sum + (outcome && outcome.outcome !== "skipped" ? outcome.elapsedMs : 0), 0);
    for (const { outcome } of steps) {
      if (outcome?.outcome === "failed") return { ...about, outcome: "failed", error: outcome.error, elapsedMs, skippedReason: "" };
    }
    const skipped = steps.find(({ outcome }) => outcome === undefined || outcome.outcome === "skipped");
    if (skipped) {
      const reason = this.ended.get(change) || (skipped.outcome?.outcome === "skipped" ? skipped.outcome.reason : "not reached");
      return { ...about, outcome: "skipped", error: undefined, elapsedMs: 0, skippedReason: reason };
    }
    return { ...about, outcome: "succeeded", error: undefined, elapsedMs, skippedReason: "" };
  }
}
