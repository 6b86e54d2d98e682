// grpc.health.v1 for plugins: the host checks it after the handshake and
// periodically; statuses flip to NOT_SERVING when the plugin shuts down.
import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  Health,
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../proto/gen/grpc/health/v1/health_pb.js";
import { serviceDefinition } from "../../proto/grpc.js";

/** Serving status per service name ("" is the whole plugin). */
export class HealthStatus {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Set<grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>();

  set(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const watcher of this.watchers) {
      if (watcher.request.service === service) watcher.write(create(HealthCheckResponseSchema, { status }));
    }
  }

  /** Marks every service NOT_SERVING and ends open watches. */
  shutdown(): void {
    for (const service of this.statuses.keys()) this.set(service, ServingStatus.NOT_SERVING);
    for (const watcher of this.watchers) watcher.end();
    this.watchers.clear();
  }

  register(server: grpc.Server): void {
    server.addService(serviceDefinition(Health), {
      Check: (call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: grpc.sendUnaryData<HealthCheckResponse>) => {
        const status = this.statuses.get(call.request.service);
        if (status === undefined) callback({ code: 5, details: `unknown service "${call.request.service}"` });
        else callback(null, create(HealthCheckResponseSchema, { status }));
      },
      Watch: (call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const status = this.statuses.get(call.request.service) ?? ServingStatus.SERVICE_UNKNOWN;
        call.write(create(HealthCheckResponseSchema, { status }));
        this.watchers.add(call);
        call.on("cancelled", () => this.watchers.delete(call));
      },
    });
  }
}

export { ServingStatus };
