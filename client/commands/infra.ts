// wfctl infra: plan, apply, refresh, drift, destroy, teardown, outputs,
// show (commands/saved-plan.ts) and state (commands/state.ts). plan, apply,
// destroy and drift say first, on stderr, which state backend and namespace
// they use.
import { Command, Option } from "commander";
import type { ApplyResponse, DestroyResponse, DriftResponse, Plan } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { Action, DriftClass } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { auditLine, driftJson, isDrifted, renderDrift, renderRefresh } from "../output/drift.js";
import { type OutputsOptions, outputs, syncOutputSinks } from "./outputs.js";
import { type TeardownOptions, teardown } from "./teardown.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { Connection } from "../connection.js";
import { EXIT } from "../exit-codes.js";
import { ghostsOf, planJson, renderPlan, renderResults, resultsJson, unrecordedJson } from "../output/plan.js";
import { renderWarnings, stateHeader } from "../output/state.js";
import { progressMode } from "../progress.js";
import { addImportCommand } from "./import.js";
import { addStateCommands } from "./state.js";
import { approvalRequired, canPrompt, confirm } from "../prompt.js";
import {
  type TargetOptions,
  callOptions,
  caller,
  exitOf,
  interrupt,
  out,
  printJson,
  reportOf,
  runOperation,
  sayOnInterrupt,
  target,
  withTarget,
} from "../runtime.js";
import { CHANGES_STOPPED } from "../interrupts.js";
import { positiveInt, withTargetOptions } from "./options.js";
import { savedPlanApply, savedPlanNote, showCommand, writePlanFile } from "./saved-plan.js";
import { type ScopeOptions, scopeOf, withScopeOptions } from "./scope.js";
import { appendStepSummary, driftSummary, maskSensitiveValues, planSummary, resultsSummary, underGitHubActions } from "../github.js";

/** The `State:` header, in the format of this command's progress lines (timestamped in CI logs). */
function header(opts: TargetOptions, backend: string, namespace: string): string {
  return stateHeader(backend, namespace, progressMode(opts) === "plain");
}

interface PlanOptions extends TargetOptions, ScopeOptions {
  destroy?: boolean;
  detailedExitcode?: boolean;
  /** --out FILE: save the plan for `apply FILE`. */
  out?: string;
}

interface ApplyOptions extends TargetOptions, ScopeOptions {
  autoApprove?: boolean;
  parallelism?: number;
  refresh?: boolean;
  allowProtectedPrune?: boolean;
  allowProtectedDestroy?: boolean;
  syncOutputs?: boolean;
}

interface RefreshOptions extends TargetOptions {
  autoApprove?: boolean;
  allowProtectedPrune?: boolean;
}

interface DriftOptions extends TargetOptions {
  detailedExitcode?: boolean;
}

async function drift(opts: DriftOptions): Promise<number> {
  return withTarget(opts, "wfctl infra drift", async ({ client }) => {
    const response = await client.drift({ target: target(opts), caller: caller("wfctl infra drift") }, callOptions(opts));
    appendStepSummary(driftSummary(response.results, target(opts)));
    if (opts.json) printJson({ backend: response.backend, namespace: response.namespace, ...driftJson(response.results) });
    else {
      process.stderr.write(header(opts, response.backend, response.namespace));
      out(renderDrift(response.results));
    }
    return opts.detailedExitcode && response.results.some(isDrifted) ? EXIT.CHANGES : EXIT.OK;
  });
}

/**
 * Refresh-only (like `terraform apply -refresh-only`): state takes what the
 * providers read and ghosts are pruned; no resource changes. Without
 * --auto-approve, a dry run.
 */
async function refresh(opts: RefreshOptions): Promise<number> {
  const dryRun = !opts.autoApprove;
  return withTarget(opts, `wfctl infra refresh${dryRun ? "" : " --auto-approve"}`, async (connection) => {
    const request = {
      target: target(opts),
      caller: caller(`wfctl infra refresh${dryRun ? "" : " --auto-approve"}`),
      dryRun,
      allowProtectedPrune: opts.allowProtectedPrune ?? false,
    };
    const response = await runOperation(
      opts,
      connection,
      "refresh",
      (operation, options) => connection.client.refresh({ ...request, operation }, options),
      (r) => ({
        dry_run: dryRun,
        ...driftJson(r.drift),
        [dryRun ? "would_prune" : "pruned"]: r.pruned.map((a) => ({ name: a.resource, type: a.type })),
        [dryRun ? "would_update" : "updated"]: driftJson(r.updated).results,
        blocked: r.blocked.map((b) => ({ name: b.name, type: b.type, reason: "protected" })),
        warnings: r.warnings,
      }),
    );
    if (!dryRun) for (const entry of response.pruned) process.stderr.write(auditLine(entry));
    appendStepSummary(driftSummary(response.drift, target(opts)));
    if (!opts.json) out(renderRefresh({ ...response, dryRun }));
    process.stderr.write(renderWarnings(response.warnings));
    return EXIT.OK;
  });
}

/**
 * `apply --refresh` without --auto-approve: a dry run. Detects drift (no
 * lock, no change) and says what would be pruned, and what would block.
 */
async function refreshDryRun(opts: ApplyOptions, connection: Connection): Promise<number> {
  const ghostsIn = (results: DriftResponse["results"]) => results.filter((r) => r.class === DriftClass.GHOST);
  const blockedIn = (ghosts: DriftResponse["results"]) => ghosts.filter((g) => g.protected && !opts.allowProtectedPrune);
  const response = await runOperation(
    opts,
    connection,
    "drift",
    (operation, options) => connection.client.drift({ target: target(opts), caller: caller("wfctl infra apply --refresh"), operation }, options),
    (r) => {
      const ghosts = ghostsIn(r.results);
      const blocked = blockedIn(ghosts);
      return {
        dry_run: true,
        backend: r.backend,
        namespace: r.namespace,
        ...driftJson(r.results),
        would_prune: blocked.length > 0 ? [] : ghosts.map((g) => ({ name: g.name, type: g.type })),
        blocked: blocked.map((g) => ({ name: g.name, type: g.type, reason: "protected" })),
      };
    },
  );
  const ghosts = ghostsIn(response.results);
  const blocked = blockedIn(ghosts);
  if (!opts.json) {
    process.stderr.write(header(opts, response.backend, response.namespace));
    out(renderDrift(response.results));
    out("\n");
    if (ghosts.length === 0) out("Nothing to prune.\n");
    for (const g of ghosts) out(`${blocked.length > 0 ? "would NOT prune" : "would prune"} ${g.name} (${g.type})${g.protected ? " [protected]" : ""}\n`);
    if (blocked.length > 0) {
      out(`Pruning would be refused: protected ghost(s) ${blocked.map((g) => g.name).join(", ")} need --allow-protected-prune.\n`);
    }
    out("Dry run: nothing was changed. Run again with --auto-approve to prune and apply.\n");
  }
  return EXIT.OK;
}

function hasChanges(plan: Plan | undefined): boolean {
  return (plan?.changes ?? []).some((c) => c.action !== Action.NOOP || c.movedFrom !== "");
}

async function plan(opts: PlanOptions): Promise<number> {
  return withTarget(opts, opts.destroy ? "wfctl infra plan --destroy" : "wfctl infra plan", async (connection) => {
    let saved: string | undefined;
    const response = await runOperation(
      opts,
      connection,
      opts.destroy ? "plan-destroy" : "plan",
      async (operation, options) => {
        const command = opts.destroy ? "wfctl infra plan --destroy" : "wfctl infra plan";
        // The text views show no unchanged resource that has nothing to say: not sent (--json gets every one).
        const omitUnchanged = !opts.json;
        const r = await connection.client.plan({ target: target(opts), caller: caller(command), destroy: opts.destroy ?? false, operation, ...scopeOf(opts), save: opts.out !== undefined, omitUnchanged }, options);
        // Written before anything is printed: the report may say where.
        if (opts.out !== undefined) saved = await writePlanFile(opts.out, r.savedPlan);
        return r;
      },
      (r) => (r.plan ? { ...planJson(r.plan), ...(saved ? { saved_plan: saved } : {}) } : null),
    );
    const p = response.plan;
    if (!p) throw new WfctlError(ErrorCode.INTERNAL, "the daemon returned no plan");
    appendStepSummary(planSummary(p, target(opts)));
    if (!opts.json) {
      process.stderr.write(header(opts, p.backend, p.namespace));
      out(renderPlan(p));
      if (saved) process.stderr.write(savedPlanNote(saved));
    }
    // Ghosts count as a difference: state does not match what exists.
    return opts.detailedExitcode && (hasChanges(p) || ghostsOf(p).length > 0) ? EXIT.CHANGES : EXIT.OK;
  });
}

/**
 * Apply and destroy: with --auto-approve, one call that plans and applies
 * under the state lock; otherwise show the plan, ask on the terminal, and
 * apply only that plan (the daemon refuses if it changed meanwhile).
 */
async function mutate(opts: ApplyOptions, destroy: boolean, planFile?: { file: string; configGiven: boolean }): Promise<number> {
  if (planFile) {
    // The plan was reviewed: applied as it is, without asking (or refused as stale).
    const saved = await savedPlanApply(planFile.file, opts, planFile.configGiven);
    return withTarget(saved.opts, "wfctl infra apply PLAN", (connection) => runMutation(connection, saved.opts, false, "wfctl infra apply PLAN", "", saved.content));
  }
  const command = destroy ? "wfctl infra destroy" : opts.refresh ? "wfctl infra apply --refresh" : "wfctl infra apply";
  // Checked before anything is contacted.
  if (opts.allowProtectedPrune && !opts.refresh) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "--allow-protected-prune only applies with --refresh (it allows pruning protected ghosts); nothing was done");
  }
  return withTarget(opts, command, async (connection) => {
    if (opts.refresh && !opts.autoApprove) return refreshDryRun(opts, connection);
    let expectedFingerprint = "";
    if (!opts.autoApprove) {
      if (!canPrompt()) throw approvalRequired(destroy ? "destroy" : "apply", "--auto-approve");
      const planned = (await connection.client.plan({ target: target(opts), caller: caller(command), destroy, ...scopeOf(opts), omitUnchanged: true }, callOptions(opts))).plan;
      if (!planned) throw new WfctlError(ErrorCode.INTERNAL, "the daemon returned no plan");
      process.stderr.write(header(opts, planned.backend, planned.namespace) + renderPlan(planned));
      // Nothing to approve, but the apply still records what the providers read (as Terraform persists a refresh).
      if (!hasChanges(planned)) return destroy ? EXIT.OK : runMutation(connection, opts, destroy, command, planned.fingerprint);
      const question = destroy ? "\nDo you really want to destroy all these resources?" : "\nDo you want to perform these actions?";
      if (!(await confirm(question, interrupt.signal))) {
        process.stderr.write(`${destroy ? "Destroy" : "Apply"} cancelled: nothing was changed.\n`);
        return EXIT.ERROR;
      }
      expectedFingerprint = planned.fingerprint;
    }
    return runMutation(connection, opts, destroy, command, expectedFingerprint);
  });
}

async function runMutation(connection: Connection, opts: ApplyOptions, destroy: boolean, command: string, expectedFingerprint: string, savedPlan?: Uint8Array): Promise<number> {
  // From here on, a Ctrl-C stops changes in progress (until now it stopped a plan or a question).
  sayOnInterrupt(CHANGES_STOPPED);
  // Not asked for approval: the plan is printed as it arrives, before the first change.
  const printsPlan = (opts.autoApprove ?? false) || savedPlan !== undefined;
  let planShown = false;
  const showPlan = (plan: Plan) => {
    planShown = true;
    process.stderr.write(header(opts, plan.backend, plan.namespace));
    out(renderPlan(plan));
  };
  const request = {
    target: target(opts),
    caller: caller(command),
    ...scopeOf(opts),
    savedPlan,
    expectedFingerprint,
    parallelism: opts.parallelism ?? 0,
    refresh: opts.refresh ?? false,
    allowProtectedPrune: opts.allowProtectedPrune ?? false,
    allowProtectedDestroy: opts.allowProtectedDestroy ?? false,
  };
  const prunedOf = (r: ApplyResponse | DestroyResponse) => ("pruned" in r ? r.pruned : []);
  const response = await runOperation<ApplyResponse | DestroyResponse>(
    opts,
    connection,
    destroy ? "destroy" : "apply",
    (operation, options) => (destroy ? connection.client.destroy({ ...request, operation }, options) : connection.client.apply({ ...request, operation }, options)),
    (r) => {
      const { failed, stopped } = reportOf(r);
      return {
        backend: r.plan?.backend ?? "",
        namespace: r.plan?.namespace ?? "",
        plan: r.plan ? planJson(r.plan) : null,
        results: resultsJson(r.results),
        complete: failed === 0 && !stopped,
        warnings: r.warnings,
        pruned: prunedOf(r).map((a) => ({ time: a.time, resource: a.resource, type: a.type, environment: a.environment, caller: a.caller })),
        stopped: stopped ? { code: stopped, reason: r.stoppedReason } : undefined,
        ...(r.unrecorded.length > 0 ? { unrecorded: unrecordedJson(r.unrecorded) } : {}),
      };
    },
    printsPlan ? { onPlan: showPlan } : {},
  );
  // Printed here only if its event never came (the apply stopped before, or progress was lost).
  if (!opts.json && printsPlan && response.plan && !planShown) showPlan(response.plan);
  for (const entry of prunedOf(response)) process.stderr.write(auditLine(entry));
  for (const entry of "moved" in response ? response.moved : []) process.stderr.write(auditLine(entry));
  if (underGitHubActions()) {
    // What the apply created may be sensitive too (a generated password): masked before anything else reads it.
    await maskSensitiveValues(connection, target(opts), caller(command));
    if (response.plan) appendStepSummary(planSummary(response.plan, target(opts)));
    appendStepSummary(resultsSummary(destroy ? "destroy" : "apply", response.results, target(opts), response.stoppedReason));
  }
  if (!opts.json && hasChanges(response.plan)) out(`\n${renderResults(response.results, destroy)}`);
  // Last, where they are seen: the lock could not be released, say.
  process.stderr.write(renderWarnings(response.warnings));
  const exit = exitOf(response, destroy ? "destroy" : "apply");
  // Outputs into their sinks once everything applied: all with --sync-outputs, else those marked on_apply.
  if (destroy || exit !== EXIT.OK || !("onApplySinks" in response)) return exit;
  // Only when there is something to write: the daemon may be shutting down now, taking no new calls.
  if ((opts.syncOutputs ? response.sinks : response.onApplySinks) === 0) {
    if (opts.syncOutputs) process.stderr.write(`--sync-outputs: ${opts.config} declares no output sinks; nothing to write.\n`);
    return exit;
  }
  // Under GitHub Actions, every sensitive value was masked above.
  return syncOutputSinks(connection, opts, command, [], { onApply: !opts.syncOutputs, mask: false, afterApply: true });
}

type Run = (code: Promise<number>) => Promise<void>;

export function infraCommand(run: Run): Command {
  const infra = new Command("infra").description("plan, apply and destroy infrastructure; inspect its state");
  withScopeOptions(
    withTargetOptions(
      infra
        .command("plan")
        .description("show what apply would change")
        .addOption(new Option("--destroy", "plan a destroy instead"))
        .addOption(new Option("--out <file>", "also save the plan to FILE, for wfctl infra apply FILE (holds no secret in plain)"))
        .addOption(new Option("--detailed-exitcode", "exit 0 when there are no changes, 2 when there are, 1 on error")),
    ),
  ).action((opts: PlanOptions) => run(plan(opts)));
  withScopeOptions(
    withTargetOptions(
      infra
        .command("apply")
        .description("create, update and delete resources to match the configuration, or apply a saved plan exactly")
        .argument("[plan-file]", "a saved plan (wfctl infra plan --out FILE): applied as planned, without asking, or refused (PLAN_STALE) if anything changed since")
        .addOption(new Option("--auto-approve", "apply without asking (required without a terminal)"))
        .addOption(new Option("--parallelism <n>", "how many resource changes may run at once (default 10)").argParser(positiveInt("--parallelism")))
        .addOption(new Option("--refresh", "detect drift first and prune ghosts from state (a dry run without --auto-approve)"))
        .addOption(new Option("--allow-protected-prune", "with --refresh: also prune ghosts of protected resources"))
        .addOption(new Option("--allow-protected-destroy", "let the plan delete or replace protected resources"))
        .addOption(new Option("--sync-outputs", "after a complete apply, write every output's sinks (without it: only sinks marked on_apply)")),
    ),
  ).action((file: string | undefined, opts: ApplyOptions, command: Command) =>
    run(mutate(opts, false, file === undefined ? undefined : { file, configGiven: command.getOptionValueSource("config") === "cli" })),
  );
  withTargetOptions(
    infra
      .command("refresh")
      .description("update state from what the providers read and prune ghosts; changes no resource (a dry run without --auto-approve)")
      .addOption(new Option("--auto-approve", "write the changes to state (otherwise only show them)"))
      .addOption(new Option("--allow-protected-prune", "also prune ghosts of protected resources")),
  ).action((opts: RefreshOptions) => run(refresh(opts)));
  withTargetOptions(
    infra
      .command("drift")
      .description("compare every resource in state with what its provider reads now")
      .addOption(new Option("--detailed-exitcode", "exit 0 when in sync, 2 when drift is found, 1 on error")),
  ).action((opts: DriftOptions) => run(drift(opts)));
  withTargetOptions(
    infra
      .command("destroy")
      .description("delete every resource recorded in state")
      .addOption(new Option("--auto-approve", "destroy without asking (required without a terminal)"))
      .addOption(new Option("--parallelism <n>", "how many deletions may run at once (default 10)").argParser(positiveInt("--parallelism")))
      .addOption(new Option("--allow-protected-destroy", "destroy protected resources too")),
  ).action((opts: ApplyOptions) => run(mutate(opts, true)));
  withTargetOptions(
    infra
      .command("teardown")
      .description("destroy every managed resource, then wipe the state (needs --approve, or 'yes' on a terminal)")
      .addOption(new Option("--dry-run", "show what would be destroyed and which state keys wiped; touch nothing"))
      .addOption(new Option("--approve", "proceed without asking (required without a terminal)"))
      .addOption(new Option("--allow-protected-destroy", "destroy protected resources too"))
      .addOption(new Option("--parallelism <n>", "how many deletions may run at once (default 10)").argParser(positiveInt("--parallelism"))),
  ).action((opts: TeardownOptions) => run(teardown(opts)));
  withTargetOptions(
    infra
      .command("outputs")
      .description("print the outputs of applied resources; sensitive values masked")
      .argument("[names...]", "only these outputs (one name: print its bare value)")
      .addOption(new Option("--show-sensitive", "print sensitive values instead of <sensitive>"))
      .addOption(new Option("--sync", "write each output to its declared sinks (GitHub secrets, $GITHUB_ENV) instead of printing it")),
  ).action((names: string[], opts: OutputsOptions) => run(outputs(names, opts)));
  infra.addCommand(showCommand(run));
  addStateCommands(infra, run);
  addImportCommand(infra, run);
  return infra;
}
