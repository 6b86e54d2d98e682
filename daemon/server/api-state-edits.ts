// The DaemonService calls that edit state by hand: import, state rm, state
// mv (the engine's state-edits.ts). Each answers with the audit entries it
// wrote and where the state is.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { Caller as CallerMessage, DaemonService, Operation as OperationMessage, Target as TargetMessage } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import type { Engine, OperationRequest } from "../engine/engine.js";
import { auditMessage, stateMessage } from "./convert.js";

/** How api.ts turns a call's target, caller and operation into an engine request. */
export type RequestOf = (t: TargetMessage | undefined, c: CallerMessage | undefined, ctx: HandlerContext, operation?: OperationMessage) => OperationRequest;

/** A required name argument, or INVALID_ARGUMENT naming the field. */
function required(value: string, field: string, what: string): string {
  if (value.trim() === "") throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `${field} is required: ${what}`, { details: [{ field, message: "is required" }] });
  return value;
}

export function stateEditHandlers(engine: Engine, request: RequestOf): Pick<ServiceImpl<typeof DaemonService>, "importResource" | "removeStateResources" | "moveStateResource"> {
  return {
    async importResource(req, ctx) {
      const name = required(req.name, "name", "the resource's name in the configuration");
      const providerId = required(req.providerId, "provider_id", "the provider's id of the existing resource");
      const result = await engine.importResource(request(req.target, req.caller, ctx, req.operation), name, providerId);
      return { resource: stateMessage(result.record), audit: auditMessage(result.audit), backend: result.backend, namespace: result.namespace };
    },
    async removeStateResources(req, ctx) {
      req.names.forEach((n, i) => required(n, `names[${i}]`, "a record's name"));
      const result = await engine.removeStateRecords(request(req.target, req.caller, ctx), req.names, req.allowProtected);
      return { audit: result.audit.map(auditMessage), backend: result.backend, namespace: result.namespace };
    },
    async moveStateResource(req, ctx) {
      const from = required(req.from, "from", "the record's current name");
      const to = required(req.to, "to", "the record's new name");
      const result = await engine.moveStateRecord(request(req.target, req.caller, ctx), from, to);
      return { audit: auditMessage(result.audit), backend: result.backend, namespace: result.namespace };
    },
  };
}
