// The DaemonService implementation: each call becomes an engine operation
// that carries the caller's cancellation (a client that disconnects cancels
// its operation) and deadline.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type Caller as CallerMessage, DaemonService, type Target as TargetMessage } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import type { Caller } from "../engine/context.js";
import type { Engine, OperationRequest } from "../engine/engine.js";
import { planMessage, pluginMessage, resultMessage, stateMessage } from "./convert.js";

/** What the API needs from the process hosting it (the daemon, or the in-process client). */
export interface ApiHost {
  socketPath: string;
  logPath: string;
  startedAt: Date;
  idleTimeoutSeconds: number;
  activeOperations(): number;
  /** Stops plugins and the server; called after the Shutdown response is sent. */
  shutdown(): void;
}

function target(message: TargetMessage | undefined): OperationRequest["target"] {
  if (!message?.configPath) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "target.config_path is required (an absolute path to infra.yaml)");
  if (!message.configPath.startsWith("/")) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `target.config_path must be absolute, got "${message.configPath}"`);
  }
  return { configPath: message.configPath, env: message.env };
}

function caller(message: CallerMessage | undefined): Caller {
  return { user: message?.user || "unknown", pid: message?.pid ?? 0, command: message?.command ?? "" };
}

function request(t: TargetMessage | undefined, c: CallerMessage | undefined, ctx: HandlerContext): OperationRequest {
  const remaining = ctx.timeoutMs();
  return {
    target: target(t),
    caller: caller(c),
    signal: ctx.signal,
    deadline: remaining === undefined ? undefined : new Date(Date.now() + remaining),
  };
}

export function daemonService(engine: Engine, host: ApiHost): ServiceImpl<typeof DaemonService> {
  return {
    async status() {
      return {
        version: WFCTL_VERSION,
        pid: process.pid,
        socketPath: host.socketPath,
        logPath: host.logPath,
        startedAt: host.startedAt.toISOString(),
        uptimeSeconds: (Date.now() - host.startedAt.getTime()) / 1000,
        runningPlugins: engine.supervisor.runningCount(),
        nodeVersion: process.version,
        activeOperations: host.activeOperations(),
        idleTimeoutSeconds: host.idleTimeoutSeconds,
      };
    },
    async plan(req, ctx) {
      const plan = await engine.plan(request(req.target, req.caller, ctx), { destroy: req.destroy });
      return { plan: planMessage(plan) };
    },
    async apply(req, ctx) {
      const result = await engine.apply(request(req.target, req.caller, ctx), {
        expectedFingerprint: req.expectedFingerprint,
        parallelism: req.parallelism,
      });
      return { plan: planMessage(result.plan), results: result.outcomes.map(resultMessage) };
    },
    async destroy(req, ctx) {
      const result = await engine.destroy(request(req.target, req.caller, ctx), {
        expectedFingerprint: req.expectedFingerprint,
        parallelism: req.parallelism,
      });
      return { plan: planMessage(result.plan), results: result.outcomes.map(resultMessage) };
    },
    async listState(req, ctx) {
      const listed = await engine.listState(request(req.target, undefined, ctx));
      return { resources: listed.resources.map(stateMessage), backend: listed.backend, namespace: listed.namespace };
    },
    async listPlugins() {
      return { plugins: engine.supervisor.list().map(pluginMessage) };
    },
    async shutdown() {
      setImmediate(() => host.shutdown());
      return {};
    },
  };
}
