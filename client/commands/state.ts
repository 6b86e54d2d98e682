// wfctl infra state: list what state records; forget records (rm) or rename
// one (mv) by hand, each audited; list the locks held (locks), and release
// a state lock left by a holder that died (by its id), or with --force
// whatever lock is held (a lock file that cannot be read has no id) after a
// confirmation.
import { type Command, Option } from "commander";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { EXIT } from "../exit-codes.js";
import { auditLine } from "../output/drift.js";
import { renderStateList, renderStateLocks, stateHeader, stateListJson, stateLocksJson } from "../output/state.js";
import { canPrompt, confirm } from "../prompt.js";
import { type TargetOptions, callOptions, caller, interrupt, out, printJson, target, withConnection } from "../runtime.js";
import { withTargetOptions } from "./options.js";

interface UnlockOptions extends TargetOptions {
  force?: boolean;
  approve?: boolean;
}

async function stateList(opts: TargetOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const response = await client.listState({ target: target(opts) }, callOptions(opts));
    if (opts.json) printJson(stateListJson(response.resources, response.backend, response.namespace));
    else out(renderStateList(response.resources, response.backend));
    return EXIT.OK;
  });
}

async function stateLocks(opts: TargetOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const response = await client.listStateLocks({ target: target(opts), caller: caller("wfctl infra state locks") }, callOptions(opts));
    if (opts.json) printJson(stateLocksJson(response.locks, response.backend, response.namespace));
    else out(renderStateLocks(response.locks, response.backend));
    return EXIT.OK;
  });
}

/** The refusal of `state unlock --force` without --approve where nobody can answer. */
export const FORCE_UNLOCK_REFUSAL =
  "refusing to force the release of the state lock without --approve or interactive confirmation: " +
  "a command still running against this state would go on without its lock. Check with `wfctl daemon status` (and on other hosts) that none is, then run again with --approve";

/** Checks the arguments and the approval before anything is contacted; false when the person at the terminal declined. */
async function approveUnlock(lockId: string | undefined, opts: UnlockOptions): Promise<boolean> {
  if (opts.force && lockId !== undefined) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "give either a lock id or --force, not both: --force releases whatever lock is held");
  if (!opts.force && lockId === undefined) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "which lock? Give its id, as `wfctl infra state locks` or the lock error shows it (or --force for a lock without one)");
  }
  if (!opts.force && lockId?.trim() === "") {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "the lock id is empty. A lock whose id is unknown (its lock file cannot be read) is released with --force");
  }
  if (!opts.force && opts.approve) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "--approve goes with --force (releasing a lock by its id needs no approval)");
  if (!opts.force || opts.approve) return true;
  if (!canPrompt()) throw new WfctlError(ErrorCode.APPROVAL_REQUIRED, FORCE_UNLOCK_REFUSAL);
  const where = `${target(opts).configPath}${opts.env ? ` (environment ${opts.env})` : ""}`;
  return confirm(
    `Release the state lock of ${where}, whoever holds it?\n  A wfctl command still running against this state would go on without its lock.`,
    interrupt.signal,
  );
}

async function unlockState(lockId: string | undefined, opts: UnlockOptions): Promise<number> {
  if (!(await approveUnlock(lockId, opts))) {
    process.stderr.write("Unlock cancelled: the lock is still held.\n");
    return EXIT.ERROR;
  }
  const command = opts.force ? "wfctl infra state unlock --force" : "wfctl infra state unlock";
  return withConnection(opts, async ({ client }) => {
    const response = await client.unlockState({ target: target(opts), caller: caller(command), lockId: lockId ?? "", force: opts.force ?? false }, callOptions(opts));
    if (response.audit) process.stderr.write(auditLine(response.audit));
    const released = response.audit?.operationId ?? lockId ?? "";
    if (opts.json) printJson({ released, forced: opts.force ?? false, held_by: response.heldBy, backend: response.backend, namespace: response.namespace });
    else out(`Released: ${response.heldBy}.\nThe next apply takes the lock as usual; check \`wfctl infra drift\` first if that holder died mid-apply.\n`);
    return EXIT.OK;
  });
}

interface RemoveOptions extends TargetOptions {
  allowProtected?: boolean;
}

/** `state rm`: forgets records; what they describe stays. */
async function stateRemove(names: string[], opts: RemoveOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const response = await client.removeStateResources({ target: target(opts), caller: caller("wfctl infra state rm"), names, allowProtected: opts.allowProtected ?? false }, callOptions(opts));
    for (const entry of response.audit) process.stderr.write(auditLine(entry));
    if (opts.json) printJson({ removed: response.audit.map((a) => a.resource), backend: response.backend, namespace: response.namespace });
    else {
      process.stderr.write(stateHeader(response.backend, response.namespace, false));
      out(`Removed ${response.audit.map((a) => a.resource).join(", ")} from state. What ${response.audit.length > 1 ? "they describe" : "it describes"} was not touched (a plan now proposes to create ${response.audit.length > 1 ? "them" : "it"} if still configured).\n`);
    }
    return EXIT.OK;
  });
}

/** `state mv`: renames a record. */
async function stateMove(from: string, to: string, opts: TargetOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const response = await client.moveStateResource({ target: target(opts), caller: caller("wfctl infra state mv"), from, to }, callOptions(opts));
    if (response.audit) process.stderr.write(auditLine(response.audit));
    if (opts.json) printJson({ moved: { from, to }, backend: response.backend, namespace: response.namespace });
    else {
      process.stderr.write(stateHeader(response.backend, response.namespace, false));
      out(`Moved ${from} to ${to} in state.\n`);
    }
    return EXIT.OK;
  });
}

type Run = (code: Promise<number>) => Promise<void>;

/** Adds `state list`, `locks`, `unlock`, `rm` and `mv` under `infra`. */
export function addStateCommands(infra: Command, run: Run): void {
  const state = infra.command("state").description("inspect recorded state; forget or rename records; release a lock left by a crash");
  withTargetOptions(
    state
      .command("unlock")
      .description("release the state lock LOCK_ID left by a holder that died (shows who held it; refuses any other lock), or with --force whatever lock is held")
      .argument("[lock-id]", "the lock's id, as `wfctl infra state locks` or the lock error shows it")
      .addOption(new Option("--force", "release whatever lock is held, with no id (for a lock file that cannot be read); asks first"))
      .addOption(new Option("--approve", "with --force: proceed without asking (required without a terminal)")),
  ).action((lockId: string | undefined, opts: UnlockOptions) => run(unlockState(lockId, opts)));
  withTargetOptions(state.command("list").description("list the resources recorded in state")).action((opts: TargetOptions) => run(stateList(opts)));
  withTargetOptions(state.command("locks").description("list the state locks held: id, holder, operation, age, whether the holder still runs, and the command that releases each")).action(
    (opts: TargetOptions) => run(stateLocks(opts)),
  );
  withTargetOptions(
    state
      .command("rm")
      .description("forget records without deleting what they describe (each must exist; none is removed otherwise)")
      .argument("<names...>", "the records' names, as `state list` shows them")
      .addOption(new Option("--allow-protected", "forget protected records too")),
  ).action((names: string[], opts: RemoveOptions) => run(stateRemove(names, opts)));
  withTargetOptions(
    state
      .command("mv")
      .description("rename a record (after renaming its module in the configuration); records that depend on it follow")
      .argument("<old>", "the record's name now")
      .argument("<new>", "its new name (no record may have it)"),
  ).action((from: string, to: string, opts: TargetOptions) => run(stateMove(from, to, opts)));
}
