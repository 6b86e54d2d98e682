// IaCBatchProvider for every SDK provider: each item of a ReadResources or
// PlanResources call runs through the provider's own single Read or Plan
// handler (the same checks, logging and span as a single call), at most
// `parallelism` at once, and is answered with its result or its own error.
import { IaCBatchProvider, type IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { mapBounded } from "../../proto/bounded.js";
import { toCallError } from "../../proto/call-error.js";
import { WfctlError } from "../../proto/errors.js";
import { type ServerCallContext, type UnaryHandlers, abortError } from "../../proto/grpc.js";

/** How many items of one batch the SDK works on at once, unless the provider says otherwise (Terraform's default parallelism). */
export const BATCH_PARALLELISM = 10;

/** An item's error as its single call would have ended: a plain error after the call gave up is that cancellation or deadline. */
function itemError(err: unknown, server: ServerCallContext) {
  return toCallError(server.signal.aborted && !(err instanceof WfctlError) ? abortError(server.signal) : err);
}

/** The batch handlers over `single`, the provider's IaCProvider handlers. */
export function batchHandlers(single: UnaryHandlers<typeof IaCProvider>, parallelism = BATCH_PARALLELISM): UnaryHandlers<typeof IaCBatchProvider> {
  return {
    readResources: async (request, server) => ({
      results: await mapBounded(request.items, parallelism, (item) =>
        single.read(item, server).then(
          (value) => ({ result: { case: "response" as const, value } }),
          (err: unknown) => ({ result: { case: "error" as const, value: itemError(err, server) } }),
        ),
      ),
    }),
    planResources: async (request, server) => ({
      results: await mapBounded(request.items, parallelism, (item) =>
        single.plan(item, server).then(
          (value) => ({ result: { case: "response" as const, value } }),
          (err: unknown) => ({ result: { case: "error" as const, value: itemError(err, server) } }),
        ),
      ),
    }),
  };
}

