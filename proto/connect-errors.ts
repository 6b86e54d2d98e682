// WfctlError across the daemon's socket API (Connect / gRPC): the stable code
// and the details travel as metadata beside the standard status code.
import { Code, ConnectError } from "@connectrpc/connect";
import { ERROR_CODE_KEY, ERROR_DETAILS_KEY, WfctlError, codeFromWire, decodeDetails, encodeDetails, grpcStatusOf } from "./errors.js";

export function toConnectError(err: unknown): ConnectError {
  const error = WfctlError.from(err);
  const metadata = new Headers({ [ERROR_CODE_KEY]: error.code });
  const details = encodeDetails(error.details);
  if (details !== undefined) metadata.set(ERROR_DETAILS_KEY, details);
  return new ConnectError(error.message, grpcStatusOf(error.code) as Code, metadata, undefined, err);
}

export function fromConnectError(err: unknown): WfctlError {
  if (err instanceof WfctlError) return err;
  const error = ConnectError.from(err);
  const code = codeFromWire(error.code, error.metadata.get(ERROR_CODE_KEY) ?? undefined);
  return new WfctlError(code, error.rawMessage, { cause: err, details: decodeDetails(error.metadata.get(ERROR_DETAILS_KEY) ?? undefined) });
}

export { Code };
