// The DaemonService implementation: each call becomes an engine operation
// with the caller's deadline. A client that disconnects does not stop its
// operation (CI runners lose connections; the work and its state records
// should not); Cancel does. WatchOperation streams an operation's events.
import { type HandlerContext, type ServiceImpl, createContextKey } from "@connectrpc/connect";
import { type Context, ROOT_CONTEXT } from "../../proto/telemetry.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import {
  type Caller as CallerMessage,
  DaemonService,
  LockMode as LockModeEnum,
  type Operation as OperationMessage,
  type Target as TargetMessage,
} from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import type { Caller } from "../engine/request.js";
import type { LockMode } from "../supervisor/lock-project.js";
import { THIS_PLATFORM } from "../supervisor/manifest.js";
import type { ApplyResult, Engine, OperationRequest, PendingRelease, RunNotes } from "../engine/engine.js";
import {
  auditMessage,
  driftMessage,
  heldLockMessage,
  eventMessage,
  outputMessage,
  planMessage,
  pluginMessage,
  resultMessage,
  stateMessage,
  unrecordedMessage,
  updateMessage,
} from "./convert.js";
import { stateEditHandlers } from "./api-state-edits.js";
import { inspectPlugin, pluginLogs } from "./inspect.js";
import { savedPlanFile, savedPlanRequest } from "./saved-plans.js";
import type { UncaughtErrors } from "./last-resort.js";
import { connectionPeerKey, peerOfCall } from "./peer.js";

/** What the API needs from the process hosting it (the daemon, or the in-process client). */
export interface ApiHost {
  socketPath: string;
  logPath: string;
  startedAt: Date;
  idleTimeoutSeconds: number;
  activeOperations(): number;
  /** Stops plugins and the server; called after the Shutdown response is sent. */
  shutdown(): void;
  /** Errors the last-resort handler caught (the daemon process; absent in-process). */
  uncaught?: UncaughtErrors;
}

/** Where the API handlers find the trace context of their call (the router's tracing interceptor puts it there). */
export const traceKey = createContextKey<Context>(ROOT_CONTEXT, { description: "trace context of the call" });

/** Longest lock id UnlockState accepts (ids are UUIDs; a backend's own may be longer, never this long). */
const MAX_LOCK_ID = 1024;

/** A lock whose release failed, as `daemon status` shows it. */
function pendingReleaseMessage(p: PendingRelease) {
  return {
    lockId: p.lock.lockId,
    scope: p.lock.scope,
    operation: p.lock.operation,
    operationId: p.lock.operationId,
    target: { configPath: p.lock.target.configPath, env: p.lock.target.env },
    failedAt: p.failedAt.toISOString(),
    givesUpAt: p.givesUpAt.toISOString(),
    attempts: p.attempts,
    lastError: p.lastError,
  };
}

/** How long WatchOperation waits for the operation to start, unless the client says. */
const WATCH_WAIT_MS = 10_000;

function target(message: TargetMessage | undefined): OperationRequest["target"] {
  if (!message?.configPath) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "target.config_path is required (an absolute path to infra.yaml)");
  if (!message.configPath.startsWith("/")) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `target.config_path must be absolute, got "${message.configPath}"`);
  }
  return { configPath: message.configPath, env: message.env, environment: message.environment, variables: message.variables, variableFiles: message.variableFiles };
}

/** Who the client says it is, and how to establish what the daemon can know of it (peer.ts). */
function caller(message: CallerMessage | undefined, ctx: HandlerContext): Caller {
  return { user: message?.user || "unknown", pid: message?.pid ?? 0, command: message?.command ?? "", peer: peerOfCall(ctx.values.get(connectionPeerKey)) };
}

function request(
  t: TargetMessage | undefined,
  c: CallerMessage | undefined,
  ctx: HandlerContext,
  operation?: OperationMessage,
): OperationRequest {
  // The operation's own budget (it still reports when it runs out), bounded
  // by the transport's deadline if the client set one.
  const deadlines: number[] = [];
  const transport = ctx.timeoutMs();
  if (transport !== undefined) deadlines.push(Date.now() + transport);
  if (operation && operation.timeoutMs > 0n) deadlines.push(Date.now() + Number(operation.timeoutMs));
  return {
    target: target(t),
    caller: caller(c, ctx),
    deadline: deadlines.length > 0 ? new Date(Math.min(...deadlines)) : undefined,
    operationId: operation?.id || undefined,
    trace: ctx.values.get(traceKey),
  };
}

function stoppable(result: Pick<ApplyResult, "plan" | "outcomes" | "stopped" | "unrecorded"> & RunNotes) {
  return {
    plan: planMessage(result.plan, result),
    warnings: result.warnings,
    results: result.outcomes.map(resultMessage),
    stoppedCode: result.stopped?.code ?? "",
    stoppedReason: result.stopped?.message ?? "",
    unrecorded: result.unrecorded.map(unrecordedMessage),
  };
}

/** The daemon itself: its status, watching and cancelling operations, stopping it. */
function daemonHandlers(engine: Engine, host: ApiHost): Pick<ServiceImpl<typeof DaemonService>, "status" | "watchOperation" | "cancel" | "shutdown"> {
  return {
    async status() {
      const memory = process.memoryUsage();
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
        operations: engine.operations().map((o) => ({
          id: o.id,
          operation: o.operation,
          target: { configPath: o.target.configPath, env: o.target.env },
          caller: o.caller.user,
          startedAt: o.startedAt.toISOString(),
          lockId: o.lock?.id ?? "",
          lockScope: o.lock?.scope ?? "",
        })),
        pendingLockReleases: engine.pendingLockReleases().map(pendingReleaseMessage),
        rssBytes: BigInt(memory.rss),
        heapUsedBytes: BigInt(memory.heapUsed),
        uncaughtErrors: host.uncaught?.count ?? 0,
        lastUncaughtError: host.uncaught?.last ?? "",
      };
    },
    async *watchOperation(req, ctx) {
      if (!req.operationId) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "operation_id is required");
      const journal = await engine.journal(req.operationId, req.waitMs || WATCH_WAIT_MS, ctx.signal);
      for await (const event of journal.follow(ctx.signal)) {
        // A view that shows no planned lines asks not to be sent one per resource (a plan of 1,000: 1,000 messages to decode).
        if (req.skipPlanned && event.event.kind === "resource" && event.event.phase === "planned") continue;
        yield eventMessage(event);
      }
    },
    async cancel(req) {
      if (!req.operationId) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "operation_id is required");
      if (!engine.cancel(req.operationId, "the client (Cancel)")) {
        throw new WfctlError(ErrorCode.NOT_FOUND, `no operation ${req.operationId} is running: it may have finished; \`wfctl daemon status\` lists those running`);
      }
      return { found: true };
    },
    async shutdown() {
      setImmediate(() => host.shutdown());
      return {};
    },
  };
}

/** The operations that plan or change infrastructure, and drift. */
function changeHandlers(engine: Engine): Pick<ServiceImpl<typeof DaemonService>, "plan" | "apply" | "destroy" | "refresh" | "teardown" | "drift"> {
  return {
    async plan(req, ctx) {
      const operation = request(req.target, req.caller, ctx, req.operation);
      const plan = await engine.plan(operation, { destroy: req.destroy, targets: req.targets, replace: req.replace, save: req.save });
      return { plan: planMessage(plan, plan, req.omitUnchanged), savedPlan: plan.saved ? savedPlanFile(plan, plan, plan.saved, operation.target, req.replace) : undefined };
    },
    async apply(req, ctx) {
      if (req.allowProtectedPrune && !req.refresh) {
        throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "--allow-protected-prune only applies with --refresh (it allows pruning protected ghosts); nothing was done");
      }
      const asked = request(req.target, req.caller, ctx, req.operation);
      const saved = savedPlanRequest(req, asked.target);
      const operation = saved ? { ...asked, target: saved.target } : asked;
      const result = await engine.apply(operation, {
        expectedFingerprint: req.expectedFingerprint,
        parallelism: req.parallelism,
        refresh: req.refresh,
        allowProtectedPrune: req.allowProtectedPrune,
        allowProtectedDestroy: req.allowProtectedDestroy,
        targets: req.targets,
        replace: req.replace,
        ...saved?.options,
      });
      return {
        ...stoppable(result),
        drift: result.drift.map((f) => driftMessage(f)),
        pruned: result.pruned.map(auditMessage),
        moved: result.moved.map(auditMessage),
        sinks: result.sinks.declared,
        onApplySinks: result.sinks.onApply,
      };
    },
    async destroy(req, ctx) {
      const result = await engine.destroy(request(req.target, req.caller, ctx, req.operation), {
        expectedFingerprint: req.expectedFingerprint,
        parallelism: req.parallelism,
        allowProtectedDestroy: req.allowProtectedDestroy,
      });
      return stoppable(result);
    },
    async refresh(req, ctx) {
      const result = await engine.refresh(request(req.target, req.caller, ctx, req.operation), {
        dryRun: req.dryRun,
        allowProtectedPrune: req.allowProtectedPrune,
      });
      return {
        drift: result.drift.map((f) => driftMessage(f)),
        pruned: result.pruned.map(auditMessage),
        updated: result.updated.map(updateMessage),
        blocked: result.blocked.map((f) => driftMessage(f)),
        dryRun: result.dryRun,
        backend: result.backend,
        namespace: result.namespace,
        warnings: result.warnings,
      };
    },
    async teardown(req, ctx) {
      const result = await engine.teardown(request(req.target, req.caller, ctx, req.operation), {
        dryRun: req.dryRun,
        expectedFingerprint: req.expectedFingerprint,
        parallelism: req.parallelism,
        allowProtectedDestroy: req.allowProtectedDestroy,
      });
      return {
        ...stoppable(result),
        stateKeys: result.stateKeys,
        wiped: result.wiped,
        dryRun: result.dryRun,
        backend: result.backend,
        namespace: result.namespace,
      };
    },
    async drift(req, ctx) {
      const { findings, backend, namespace } = await engine.drift(request(req.target, req.caller, ctx, req.operation));
      return { results: findings.map((f) => driftMessage(f)), backend, namespace };
    },
  };
}

/** What state holds: outputs, records, the lock, values to mask. */
function stateHandlers(engine: Engine): Pick<ServiceImpl<typeof DaemonService>, "outputs" | "listState" | "unlockState" | "listStateLocks" | "listSensitiveValues"> {
  return {
    async outputs(req, ctx) {
      const sinks = req.onApplySinks ? "on_apply" : req.withSinks ? "any" : "all";
      const result = await engine.outputs(request(req.target, req.caller, ctx, req.operation), req.names, sinks);
      return {
        outputs: result.outputs.map((o) => outputMessage(o, req.revealSensitive)),
        declared: result.declared,
        backend: result.backend,
        namespace: result.namespace,
      };
    },
    async listState(req, ctx) {
      const listed = await engine.listState(request(req.target, undefined, ctx));
      return { resources: listed.resources.map(stateMessage), backend: listed.backend, namespace: listed.namespace };
    },
    async listStateLocks(req, ctx) {
      const listed = await engine.listStateLocks(request(req.target, req.caller, ctx));
      return { locks: listed.locks.map(heldLockMessage), backend: listed.backend, namespace: listed.namespace };
    },
    async unlockState(req, ctx) {
      if (req.force && req.lockId) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "lock_id must be empty with force: a forced release releases whatever lock is held");
      if (!req.force && !req.lockId) {
        throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "lock_id is required: the id the lock error or `wfctl daemon status` showed (or force, for a lock without one)");
      }
      if (req.lockId.length > MAX_LOCK_ID) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `lock_id is longer than ${MAX_LOCK_ID} characters: no lock has such an id`);
      const result = await engine.unlockState(request(req.target, req.caller, ctx), { lockId: req.lockId, force: req.force });
      return { heldBy: result.heldBy, backend: result.backend, namespace: result.namespace, audit: auditMessage(result.audit) };
    },
    async listSensitiveValues(req, ctx) {
      const values = await engine.sensitiveValues(request(req.target, req.caller, ctx));
      return { valuesJson: values.map((v) => JSON.stringify(v)) };
    },
  };
}

/** Plugins: listing, inspecting, their logs, pinning them. */
function pluginHandlers(engine: Engine): Pick<ServiceImpl<typeof DaemonService>, "listPlugins" | "inspectPlugin" | "pluginLogs" | "lockPlugins"> {
  return {
    async listPlugins() {
      return { plugins: engine.supervisor.list().map(pluginMessage) };
    },
    async inspectPlugin(req) {
      return { plugins: await inspectPlugin(engine, req.name) };
    },
    pluginLogs(req, ctx) {
      return pluginLogs(engine, req.name, req.tail || 50, req.follow, ctx.signal);
    },
    async lockPlugins(req) {
      if (!req.target?.configPath) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "target.config_path is required");
      const modes: Record<number, LockMode> = { [LockModeEnum.UNSPECIFIED]: "lock", [LockModeEnum.INSTALL]: "install", [LockModeEnum.CHECK]: "check" };
      const mode = modes[req.mode];
      if (mode === undefined) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `mode ${req.mode} is not a lock mode (0, 1 or 2)`);
      const { lockfile, entries, differences } = await engine.lockPlugins(req.target.configPath, mode);
      return {
        lockfile,
        differences,
        plugins: Object.entries(entries).map(([name, e]) => ({
          name,
          kind: e.kind,
          path: e.path,
          version: e.version,
          checksum: e.checksums["any"] ?? e.checksums[THIS_PLATFORM] ?? "",
          platforms: Object.keys(e.checksums).sort(),
        })),
      };
    },
  };
}

/** Which of its variables the client sends with a request about this target (environment-names.ts). */
function environmentHandlers(engine: Engine): Pick<ServiceImpl<typeof DaemonService>, "environmentNames"> {
  return {
    async environmentNames(req) {
      const { configPath, env } = target(req.target);
      return { names: await engine.environmentNames(configPath, env) };
    },
  };
}

export function daemonService(engine: Engine, host: ApiHost): ServiceImpl<typeof DaemonService> {
  return {
    ...daemonHandlers(engine, host),
    ...changeHandlers(engine),
    ...stateHandlers(engine),
    ...pluginHandlers(engine),
    ...stateEditHandlers(engine, request),
    ...environmentHandlers(engine),
  };
}
