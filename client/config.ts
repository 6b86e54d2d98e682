// infra.yaml read by the client itself, for commands that need no daemon
// (`wfctl deploy verify`): the daemon's own loader, so the file is checked
// exactly as `infra plan` checks it. Loaded on first use only, from the
// unbundled daemon code beside the bundle (client/bundle.mjs keeps
// daemon/inprocess.js external), so other commands start as fast as before.
// This file sits directly under client/ like connection.ts: the import path
// below must resolve both from dist/client/ and from dist/bundle/.
import type { InfraConfig } from "../daemon/inprocess.js";
import { type ErrorCode, type ErrorDetail, WfctlError } from "../proto/errors.js";

export type { HealthCheck, HttpCheck, InfraConfig, StatusRange, TcpCheck, VerifyConfig, VerifyTarget } from "../daemon/inprocess.js";

/** Loads and checks `file` for environment `env` ("" for none); every problem is a CONFIG_INVALID error. */
export async function loadConfig(file: string, env: string): Promise<InfraConfig> {
  const { loadInfraConfig } = await import("../daemon/inprocess.js");
  try {
    return await loadInfraConfig(file, env);
  } catch (err) {
    // The loader's WfctlError is the unbundled code's class, not the bundle's:
    // carry its code and details over, so exit codes and --json see them.
    if (err instanceof Error && err.name === "WfctlError" && !(err instanceof WfctlError)) {
      const { code, details, omitted } = err as Error & { code: ErrorCode; details: readonly ErrorDetail[]; omitted?: number };
      throw new WfctlError(code, err.message, { cause: err, details, omitted: omitted ?? 0 });
    }
    throw err;
  }
}
