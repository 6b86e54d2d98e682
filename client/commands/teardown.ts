// wfctl infra teardown: destroy every managed resource, then wipe the state.
// The most destructive command there is, so it proceeds only with --approve
// or the exact answer "yes" on a terminal; --dry-run previews. No environment
// variable stands in for --approve.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { Action } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { EXIT } from "../exit-codes.js";
import { planJson, renderResults, resultsJson, unrecordedJson } from "../output/plan.js";
import { renderWarnings } from "../output/state.js";
import { renderTeardownPreview } from "../output/teardown.js";
import { ask, canPrompt } from "../prompt.js";
import type { CallOptions } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { OperationSchema } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { type TargetOptions, callOptions, caller, exitOf, interrupt, out, reportOf, runOperation, sayOnInterrupt, target, withTarget } from "../runtime.js";
import { CHANGES_STOPPED } from "../interrupts.js";
import { appendStepSummary, resultsSummary } from "../github.js";

export interface TeardownOptions extends TargetOptions {
  dryRun?: boolean;
  approve?: boolean;
  allowProtectedDestroy?: boolean;
  parallelism?: number;
}

export const TEARDOWN_REFUSAL = "refusing to destroy without --approve or interactive confirmation; run with --dry-run first";

export async function teardown(opts: TeardownOptions): Promise<number> {
  // Decided before anything is contacted: nothing is read, locked or destroyed.
  if (!opts.dryRun && !opts.approve && !canPrompt()) throw new WfctlError(ErrorCode.APPROVAL_REQUIRED, TEARDOWN_REFUSAL);
  const command = `wfctl infra teardown${opts.dryRun ? " --dry-run" : opts.approve ? " --approve" : ""}`;
  return withTarget(opts, command, async (connection) => {
    const base = { target: target(opts), caller: caller(command), allowProtectedDestroy: opts.allowProtectedDestroy ?? false };
    let expectedFingerprint = "";
    if (!opts.approve) {
      // Asking first: only a --dry-run shows its progress (or, with --json, its events).
      const previewCall = (operation: MessageInitShape<typeof OperationSchema> | undefined, options: CallOptions) =>
        connection.client.teardown({ ...base, dryRun: true, operation }, options);
      const preview = opts.dryRun
        ? await runOperation(opts, connection, "teardown", previewCall, (r) => ({
            dry_run: true,
            backend: r.backend,
            namespace: r.namespace,
            plan: r.plan ? planJson(r.plan) : null,
            state_keys: r.stateKeys,
          }))
        : await previewCall(undefined, callOptions(opts));
      const plan = preview.plan;
      if (!plan) throw new WfctlError(ErrorCode.INTERNAL, "the daemon returned no teardown plan");
      const count = plan.changes.filter((c) => c.action === Action.DELETE).length;
      if (opts.dryRun) {
        if (!opts.json) {
          out(renderTeardownPreview(plan, preview.stateKeys, preview.backend, opts.allowProtectedDestroy ?? false));
          if (count > 0 || preview.stateKeys.length > 0) {
            out(`\nDry run: nothing was destroyed or wiped. Run with --approve (or on a terminal, answer yes) to destroy ${count} resource(s) and wipe state.\n`);
          }
        }
        return EXIT.OK;
      }
      process.stderr.write(renderTeardownPreview(plan, preview.stateKeys, preview.backend, opts.allowProtectedDestroy ?? false));
      if (count === 0 && preview.stateKeys.length === 0) return EXIT.OK;
      // Refused anyway: say so now rather than after a "yes".
      const blocked = plan.changes.filter((c) => c.action === Action.DELETE && c.protected);
      if (blocked.length > 0 && !opts.allowProtectedDestroy) {
        throw new WfctlError(
          ErrorCode.PROTECTED_RESOURCE,
          `refusing to destroy protected resource(s): ${blocked.map((c) => `${c.name} (${c.type}, delete)`).join(", ")}; nothing was changed. ` +
            "Set protected: false on them in the configuration, or run wfctl infra teardown again with --allow-protected-destroy if you really mean it",
        );
      }
      const answer = await ask(`\nType 'yes' to destroy all ${count} resources and wipe state: `, interrupt.signal);
      if (answer !== "yes") {
        process.stderr.write("Teardown cancelled: nothing was destroyed or wiped.\n");
        return EXIT.ERROR;
      }
      expectedFingerprint = plan.fingerprint;
    }
    // From here on, a Ctrl-C stops changes in progress (until now it stopped a preview or a question).
    sayOnInterrupt(CHANGES_STOPPED);
    const response = await runOperation(
      opts,
      connection,
      "teardown",
      (operation, options) => connection.client.teardown({ ...base, dryRun: false, expectedFingerprint, parallelism: opts.parallelism ?? 0, operation }, options),
      (r) => {
        const { stopped } = reportOf(r);
        return {
          plan: r.plan ? planJson(r.plan) : null,
          results: resultsJson(r.results),
          wiped: r.wiped,
          state_keys: r.stateKeys,
          stopped: stopped ? { code: stopped, reason: r.stoppedReason } : undefined,
          ...(r.unrecorded.length > 0 ? { unrecorded: unrecordedJson(r.unrecorded) } : {}),
          warnings: r.warnings,
        };
      },
    );
    appendStepSummary(resultsSummary("teardown", response.results, target(opts), response.stoppedReason));
    if (!opts.json) {
      if (response.results.length > 0) out(renderResults(response.results, true));
      if (response.wiped) out(`State wiped: ${response.stateKeys.length} key(s) removed from ${response.backend}.\n`);
      else out("State was NOT wiped: it still records every resource that exists. Fix the failures and run teardown again.\n");
    }
    process.stderr.write(renderWarnings(response.warnings));
    return exitOf(response, "teardown");
  });
}
