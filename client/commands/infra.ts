// wfctl infra: plan, apply, destroy, state list.
import { Command, Option } from "commander";
import type { Plan } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { Action, Outcome } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { ErrorCode, WfctlError, codeFromWire } from "../../proto/errors.js";
import type { Connection } from "../connection.js";
import { EXIT, exitCodeFor } from "../exit-codes.js";
import { planJson, renderPlan, renderResults, resultsJson } from "../output/plan.js";
import { renderTable } from "../output/table.js";
import { approvalRequired, canPrompt, confirm } from "../prompt.js";
import { type TargetOptions, callOptions, caller, interrupt, out, printJson, stoppableOperation, target, withConnection } from "../runtime.js";
import { positiveInt, withTargetOptions } from "./options.js";

interface PlanOptions extends TargetOptions {
  destroy?: boolean;
  detailedExitcode?: boolean;
}

interface ApplyOptions extends TargetOptions {
  autoApprove?: boolean;
  parallelism?: number;
}

function hasChanges(plan: Plan | undefined): boolean {
  return (plan?.changes ?? []).some((c) => c.action !== Action.NOOP);
}

async function plan(opts: PlanOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const response = await client.plan(
      { target: target(opts), caller: caller(opts.destroy ? "wfctl infra plan --destroy" : "wfctl infra plan"), destroy: opts.destroy ?? false },
      callOptions(opts),
    );
    const p = response.plan;
    if (!p) throw new WfctlError(ErrorCode.INTERNAL, "the daemon returned no plan");
    if (opts.json) printJson(planJson(p));
    else out(renderPlan(p));
    return opts.detailedExitcode && hasChanges(p) ? EXIT.CHANGES : EXIT.OK;
  });
}

/**
 * Apply and destroy: with --auto-approve, one call that plans and applies
 * under the state lock; otherwise show the plan, ask on the terminal, and
 * apply only that plan (the daemon refuses if it changed meanwhile).
 */
async function mutate(opts: ApplyOptions, destroy: boolean): Promise<number> {
  const command = destroy ? "wfctl infra destroy" : "wfctl infra apply";
  return withConnection(opts, async (connection) => {
    let expectedFingerprint = "";
    if (!opts.autoApprove) {
      if (!canPrompt()) throw approvalRequired(destroy ? "destroy" : "apply", "--auto-approve");
      const planned = (await connection.client.plan({ target: target(opts), caller: caller(command), destroy }, callOptions(opts))).plan;
      if (!planned) throw new WfctlError(ErrorCode.INTERNAL, "the daemon returned no plan");
      process.stderr.write(renderPlan(planned));
      if (!hasChanges(planned)) return EXIT.OK;
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

async function runMutation(connection: Connection, opts: ApplyOptions, destroy: boolean, command: string, expectedFingerprint: string): Promise<number> {
  const op = stoppableOperation(opts, connection);
  const request = { target: target(opts), caller: caller(command), expectedFingerprint, parallelism: opts.parallelism ?? 0, operation: op.operation };
  let response;
  try {
    response = destroy ? await connection.client.destroy(request, op.options) : await connection.client.apply(request, op.options);
  } finally {
    op.done();
  }
  const failed = response.results.filter((r) => r.outcome !== Outcome.SUCCEEDED);
  const stopped = response.stoppedCode ? codeFromWire(0, response.stoppedCode) : undefined;
  if (opts.json) {
    printJson({
      plan: response.plan ? planJson(response.plan) : null,
      results: resultsJson(response.results),
      complete: failed.length === 0 && !stopped,
      stopped: stopped ? { code: stopped, reason: response.stoppedReason } : undefined,
    });
  } else {
    if (opts.autoApprove && response.plan) out(renderPlan(response.plan));
    if (hasChanges(response.plan)) out(`\n${renderResults(response.results, destroy)}`);
  }
  if (stopped) {
    process.stderr.write(`Error: ${destroy ? "destroy" : "apply"} stopped before finishing: ${response.stoppedReason}\n`);
    return exitCodeFor(stopped);
  }
  return failed.length === 0 ? EXIT.OK : EXIT.ERROR;
}

async function stateList(opts: TargetOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const response = await client.listState({ target: target(opts) }, callOptions(opts));
    if (opts.json) {
      printJson({
        backend: response.backend,
        namespace: response.namespace,
        resources: response.resources.map((r) => ({
          name: r.name,
          type: r.type,
          provider: r.provider,
          provider_id: r.providerId,
          status: r.status,
          protected: r.protected,
          depends_on: r.dependsOn,
          created_at: r.createdAt,
          updated_at: r.updatedAt,
          outputs: JSON.parse(r.outputsJson || "{}") as unknown,
        })),
      });
    } else if (response.resources.length === 0) {
      out(`No resources in state (${response.backend}).\n`);
    } else {
      out(
        renderTable(
          ["name", "type", "provider", "status", "updated"],
          response.resources.map((r) => [r.name + (r.protected ? " [protected]" : ""), r.type, r.provider, r.status, r.updatedAt]),
        ),
      );
      out(`\n${response.resources.length} resource(s) in ${response.backend}.\n`);
    }
    return EXIT.OK;
  });
}

type Run = (code: Promise<number>) => Promise<void>;

export function infraCommand(run: Run): Command {
  const infra = new Command("infra").description("plan, apply and destroy infrastructure; inspect its state");
  withTargetOptions(
    infra
      .command("plan")
      .description("show what apply would change")
      .addOption(new Option("--destroy", "plan a destroy instead"))
      .addOption(new Option("--detailed-exitcode", "exit 0 when there are no changes, 2 when there are, 1 on error")),
  ).action((opts: PlanOptions) => run(plan(opts)));
  withTargetOptions(
    infra
      .command("apply")
      .description("create, update and delete resources to match the configuration")
      .addOption(new Option("--auto-approve", "apply without asking (required without a terminal)"))
      .addOption(new Option("--parallelism <n>", "how many resource changes may run at once (default 10)").argParser(positiveInt("--parallelism"))),
  ).action((opts: ApplyOptions) => run(mutate(opts, false)));
  withTargetOptions(
    infra
      .command("destroy")
      .description("delete every resource recorded in state")
      .addOption(new Option("--auto-approve", "destroy without asking (required without a terminal)"))
      .addOption(new Option("--parallelism <n>", "how many deletions may run at once (default 10)").argParser(positiveInt("--parallelism"))),
  ).action((opts: ApplyOptions) => run(mutate(opts, true)));
  const state = infra.command("state").description("inspect recorded state");
  withTargetOptions(state.command("list").description("list the resources recorded in state")).action((opts: TargetOptions) =>
    run(stateList(opts)),
  );
  return infra;
}
