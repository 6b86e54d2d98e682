// Asking a plugin whether it is serving (grpc.health.v1).
import type * as grpc from "@grpc/grpc-js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { pluginGrpc } from "./grpc.js";

/** Resolves if the plugin reports SERVING for `service` ("" = overall) within `timeoutMs`. */
export async function checkHealth(connection: grpc.Client, who: string, timeoutMs: number, service = ""): Promise<void> {
  const { callUnary } = await pluginGrpc();
  const response = await callUnary(connection, Health.method.check, { service }, { deadline: new Date(Date.now() + timeoutMs) });
  if (response.status !== ServingStatus.SERVING) {
    throw new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, `${who}: health check says ${ServingStatus[response.status] ?? response.status}`);
  }
}
