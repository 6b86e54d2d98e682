// What the first Ctrl-C says, command by command: only a command that changes
// resources or state may say that changes in progress are stopped; one that
// only reads says nothing was changed, and `plugins logs --follow` that it
// stopped following. Looked up before each command's action runs (main.ts),
// from the command's path and flags, so every command is listed here; apply,
// destroy and teardown that ask first switch to CHANGES_STOPPED once approved.
import type { Command } from "commander";

/** What the first Ctrl-C of a command stops, as its line says. */
export interface Interruption {
  /** Printed after "Interrupt received: ", then a full stop. */
  line: string;
  /**
   * Whether the command still waits after the first Ctrl-C (for an
   * operation's report), so that a second one has something to cut short.
   */
  waits: boolean;
}

type Flags = Readonly<Record<string, unknown>>;

/** The line of a command that changes resources or state through an operation that records each change as it completes. */
export const CHANGES_STOPPED: Interruption = {
  line: "cancelling. Changes in progress are stopped; what was done stays recorded in state",
  waits: true,
};

/** A read-only operation (plan, drift, a dry run) whose report the client still awaits. */
const readOnlyOperation = (what: string): Interruption => ({ line: `stopping the ${what}; nothing was changed`, waits: true });

/** A call that only reads: it is dropped at once. */
const READ_ONLY: Interruption = { line: "stopping; nothing was changed", waits: false };

/**
 * A command that shows a plan and asks before it changes anything: until the
 * answer, nothing is changed (the command switches to CHANGES_STOPPED when
 * the changes start).
 */
const BEFORE_APPROVAL: Interruption = { line: "stopping; nothing was changed", waits: false };

/** A single call that may change something: the daemon may have done it before the call was dropped. */
const sentChange = (what: string, check: string): Interruption => ({
  line: `stopping. If the daemon already got the request, ${what} may still be done: ${check} shows where things stand`,
  waits: false,
});

/** When a command is missing from the table: a line that claims nothing about what happened. */
const UNLISTED: Interruption = { line: "stopping", waits: false };

/** Every command, by its path without "wfctl" ("infra state list"). */
const MEANINGS: Readonly<Record<string, (flags: Flags) => Interruption>> = {
  "infra plan": (f) => readOnlyOperation(f["destroy"] ? "destroy plan" : "plan"),
  "infra apply": (f) => (f["autoApprove"] ? CHANGES_STOPPED : f["refresh"] ? readOnlyOperation("dry run") : BEFORE_APPROVAL),
  "infra destroy": (f) => (f["autoApprove"] ? CHANGES_STOPPED : BEFORE_APPROVAL),
  "infra refresh": (f) => (f["autoApprove"] ? CHANGES_STOPPED : readOnlyOperation("dry run")),
  "infra drift": () => ({ line: "stopping drift detection; nothing was changed", waits: false }),
  "infra teardown": (f) =>
    f["dryRun"] ? { line: "stopping the dry run; nothing was destroyed or wiped", waits: true } : f["approve"] ? CHANGES_STOPPED : BEFORE_APPROVAL,
  "infra outputs": (f) => (f["sync"] ? { line: "stopping the sink writes; the sinks already written keep their new values", waits: false } : READ_ONLY),
  "infra show": () => READ_ONLY,
  "infra import": () => sentChange("the import", "`wfctl infra state list`"),
  "infra state list": () => READ_ONLY,
  "infra state locks": () => READ_ONLY,
  "infra state unlock": () => sentChange("the release of the lock", "`wfctl daemon status`"),
  "infra state rm": () => sentChange("the removal", "`wfctl infra state list`"),
  "infra state mv": () => sentChange("the rename", "`wfctl infra state list`"),
  "plugins list": () => READ_ONLY,
  "plugins inspect": () => READ_ONLY,
  "plugins logs": (f) => (f["follow"] ? { line: "stopped following the logs; nothing was changed", waits: false } : READ_ONLY),
  "plugins install": () => ({ line: "stopping the install; the plugins it installed are removed again (`wfctl plugins lock --check` says whether the lockfile matches)", waits: false }),
  "plugins lock": (f) => (f["check"] ? READ_ONLY : sentChange("the lockfile", "`wfctl plugins lock --check`")),
  "daemon start": () => ({ line: "stopping; a daemon being started may still start (`wfctl daemon status` says)", waits: false }),
  "daemon stop": () => ({ line: "stopping; a daemon asked to stop still stops (`wfctl daemon status` says when it is gone)", waits: false }),
  "daemon status": () => READ_ONLY,
  "deploy verify": () => ({ line: "stopping the health checks; the table shows what was found so far", waits: true }),
};

/** The path of a command below the program ("infra state list"). */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Whether a command is in the table (a test checks every command is). */
export function listed(path: string): boolean {
  return Object.hasOwn(MEANINGS, path);
}

/** What the first Ctrl-C of `command`, given its flags, says it stops. */
export function interruptionOf(command: Command): Interruption {
  const meaning = MEANINGS[commandPath(command)];
  return meaning ? meaning(command.opts()) : UNLISTED;
}
