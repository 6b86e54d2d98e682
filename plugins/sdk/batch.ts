// IaCBatchProvider for every SDK provider: each item of a ReadResources,
// PlanResources or DetectDrifts call runs through the provider's own single
// Read, Plan or DetectDrift handler (the same checks, logging and span as a
// single call, and the same error: the SDK's call runner has already made it
// a WfctlError, a cancellation's included), at most `parallelism` at once,
// and is answered with its result or its own error.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { IaCBatchProvider, type IaCDriftDetector, type IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { mapBounded } from "../../proto/bounded.js";
import { toCallError } from "../../proto/call-error.js";
import type { UnaryHandlers } from "../../proto/grpc.js";

/** How many items of one batch the SDK works on at once, unless the provider says otherwise (Terraform's default parallelism). */
export const BATCH_PARALLELISM = 10;

/** A batch item's result: its single call's answer, or that call's error. */
function answered<T>(call: Promise<T>) {
  return call.then(
    (value) => ({ result: { case: "response" as const, value } }),
    (err: unknown) => ({ result: { case: "error" as const, value: toCallError(err) } }),
  );
}

/**
 * The batch handlers over `single`, the provider's IaCProvider handlers, and
 * `drift`, its IaCDriftDetector handlers when it serves that service
 * (without them DetectDrifts is UNIMPLEMENTED, as the proto says).
 */
export function batchHandlers(
  single: UnaryHandlers<typeof IaCProvider>,
  parallelism = BATCH_PARALLELISM,
  drift?: UnaryHandlers<typeof IaCDriftDetector>,
): UnaryHandlers<typeof IaCBatchProvider> {
  return {
    readResources: async (request, server) => ({ results: await mapBounded(request.items, parallelism, (item) => answered(single.read(item, server))) }),
    planResources: async (request, server) => ({ results: await mapBounded(request.items, parallelism, (item) => answered(single.plan(item, server))) }),
    detectDrifts: async (request, server) => {
      if (!drift) throw new WfctlError(ErrorCode.UNSUPPORTED, "this provider does not detect drift (it serves no IaCDriftDetector)");
      return { results: await mapBounded(request.items, parallelism, (item) => answered(drift.detectDrift(item, server))) };
    },
  };
}
