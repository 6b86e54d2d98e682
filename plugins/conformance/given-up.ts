// How a conformance check makes a plugin itself see that its caller has
// given up. Over gRPC the client refuses to send a call whose signal is
// already aborted, and answers one cancelled in flight, or past its deadline,
// itself (CANCELLED, DEADLINE_EXCEEDED), whatever the plugin did: its answer
// is thrown away. So a check that only cancels calls never learns what the
// plugin did, and one that ignores every signal passes it. What does reach the plugin
// is the host's other way to stop work, PluginController.CancelOperation:
// the plugin must abort the context of every call of that operation, in
// flight or arriving later, exactly as it does for a cancelled call or a
// deadline that passed, and still ANSWER each call. The kit cancels an
// operation first, then sends calls of it on a live connection with a real
// deadline, and reads the plugin's own answers and what they did.
import { randomUUID } from "node:crypto";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { CancelReason, type PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import type { UnaryClient } from "../../proto/grpc.js";
import { ConformanceFailure } from "./assert.js";

/** Why the caller gave up: it cancelled, or its deadline passed. */
export type GiveUp = "cancelled" | "deadline";

/** The code a call must fail with for each way of giving up. */
export const GIVE_UP_CODE: Readonly<Record<GiveUp, ErrorCode>> = { cancelled: ErrorCode.CANCELLED, deadline: ErrorCode.DEADLINE_EXCEEDED };

/** An aborted signal as a caller in this process gives it (the reason names say which). */
export function abortedSignal(why: GiveUp): AbortSignal {
  return AbortSignal.abort(why === "deadline" ? new DOMException("the deadline passed", "TimeoutError") : new DOMException("the caller gave up", "AbortError"));
}

/** The metadata of a call of `operationId`, as the daemon sends it. */
export function operationMetadata(operationId: string): Record<string, string> {
  return { "wfctl-operation-id": operationId, "wfctl-operation": "conformance", "wfctl-environment": "", "wfctl-caller": "conformance-kit" };
}

/** A fresh operation id for one check. */
export function conformanceOperation(): string {
  return `conformance-${randomUUID()}`;
}

/**
 * Tells the plugin that operation `operationId` was cancelled or ran out of
 * time. A plugin that does not serve CancelOperation fails the check: the
 * kit cannot reach its handling of cancellation and deadlines otherwise.
 */
export async function cancelInPlugin(controller: UnaryClient<typeof PluginController>, operationId: string, why: GiveUp): Promise<void> {
  const reason = why === "deadline" ? CancelReason.DEADLINE_EXCEEDED : CancelReason.CANCELLED;
  try {
    await controller.cancelOperation({ operationId, reason, message: `conformance check: the operation ${why === "deadline" ? "ran out of time" : "was cancelled"}` }, { deadline: new Date(Date.now() + 10_000) });
  } catch (err) {
    const error = WfctlError.from(err);
    if (error.code === ErrorCode.UNSUPPORTED) {
      throw new ConformanceFailure(
        "the plugin does not serve PluginController.CancelOperation: the kit reaches a plugin's handling of cancellation and deadlines through it " +
          "(a call cancelled or past its deadline is answered by the gRPC client, never by the plugin). Serve it: abort the context of every call " +
          "whose wfctl-operation-id it names, and of any that arrives later, as a cancelled call's or an expired deadline's, and answer each call",
        { cause: err },
      );
    }
    throw new ConformanceFailure(`PluginController.CancelOperation failed with ${error.code}: ${error.message}`, { cause: err });
  }
}
