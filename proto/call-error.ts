// One item's failure inside a batch call (IaCBatchProvider): the CallError
// message carries what a single call's status and trailers would have, and
// reads back as the same WfctlError (code, message, details, lock).
import { create } from "@bufbuild/protobuf";
import { type CallError, CallErrorSchema } from "./gen/wfctl/plugin/v1/errors_pb.js";
import { ErrorCode, WfctlError, codeFromWire, grpcStatusOf } from "./errors.js";
import { errorDetailsMessage, wireDetailsOf } from "./error-details.js";

/** `err` as a batch item's CallError. */
export function toCallError(err: unknown): CallError {
  const error = WfctlError.from(err);
  const details = errorDetailsMessage(error);
  return create(CallErrorSchema, { status: grpcStatusOf(error.code), code: error.code, message: error.message, ...(details ? { details } : {}) });
}

/** A batch item's CallError as the WfctlError its single call would have given. */
export function fromCallError(error: CallError): WfctlError {
  // Status 0 is no failure at all: a peer that sends it has broken the contract.
  const code = error.status === 0 ? ErrorCode.INTERNAL : codeFromWire(error.status, error.code || undefined);
  return new WfctlError(code, error.message || `gRPC status ${error.status}`, error.details ? wireDetailsOf(error.details) : {});
}
