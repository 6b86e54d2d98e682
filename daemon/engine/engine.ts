// The engine: plan, apply, destroy and state listing for a configuration and
// environment. The daemon serves it over the socket; `wfctl --no-daemon` runs
// the very same code in the client process.
import { randomUUID } from "node:crypto";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { LockInfo, ResourceState, StateStore } from "../../proto/state-store.js";
import { abortError } from "../../proto/grpc.js";
import { type Context, ROOT_CONTEXT } from "../../proto/telemetry.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { loadInfraConfig } from "../config/load.js";
import type { InfraConfig } from "../config/model.js";
import { MemoryStores, describeBackend, openStateStore } from "../state/open.js";
import type { PluginCatalog } from "../supervisor/catalog.js";
import { PluginInstance } from "../supervisor/instance.js";
import { type LockEntry, lockProjectPlugins, projectPluginSpecs } from "../supervisor/manifest.js";
import type { PluginSupervisor } from "../supervisor/supervisor.js";
import { type ResourceOutcome, applyPlan, checkProtected } from "./apply.js";
import { type DriftFinding, detectDrift } from "./drift.js";
import type { Caller, OperationContext } from "./context.js";
import { type Plan, computePlan } from "./plan.js";
import { ProviderSessions } from "./providers.js";
import { DEFAULT_PARALLELISM } from "./scheduler.js";

/** Which configuration and environment an operation is about. */
export interface Target {
  /** Absolute path of infra.yaml. */
  configPath: string;
  /** Environment name; "" for none. */
  env: string;
}

/** What a caller passes to every engine operation. */
export interface OperationRequest {
  target: Target;
  caller: Caller;
  /** The caller's own cancellation (a client that disconnects). */
  signal: AbortSignal;
  /** When the operation must stop; it is then cancelled like a Ctrl-C, and still reports. */
  deadline: Date | undefined;
  /** Chosen by the client so it can Cancel; one is made up when empty. */
  operationId?: string;
  /** The trace this operation belongs to (its plugin calls join it). */
  trace?: Context;
}

export interface ApplyOptions {
  /** Refuse with PLAN_STALE unless the plan still has this fingerprint. */
  expectedFingerprint?: string;
  parallelism?: number;
  /** Detect drift first, and prune ghosts from state before planning. */
  refresh?: boolean;
  /** With refresh: prune ghosts of protected resources too. */
  allowProtectedPrune?: boolean;
}

/** One audit record: a change to state made outside a resource's own apply. */
export interface AuditEntry {
  time: string;
  action: "prune";
  operation: string;
  resource: string;
  type: string;
  environment: string;
  caller: string;
  operationId: string;
}

/** Where audit entries go (the daemon's audit log). */
export type AuditSink = (entry: AuditEntry) => void;

export interface ApplyResult {
  plan: Plan;
  outcomes: ResourceOutcome[];
  /** Why the operation stopped before finishing (cancelled, deadline, a plugin lost); undefined when it ran to the end. */
  stopped: WfctlError | undefined;
  /** With refresh: the drift found, and the ghosts pruned (in order). */
  drift: DriftFinding[];
  pruned: AuditEntry[];
}

/** An operation in flight, as operators see it. */
export interface RunningOperation {
  id: string;
  operation: string;
  target: Target;
  caller: Caller;
  startedAt: Date;
  /** The state lock it holds, once taken. */
  lock: { id: string; scope: string } | undefined;
  controller: AbortController;
}

/**
 * Refuses to prune ghosts of protected resources unless allowed; checks every
 * ghost before any is pruned, and names every blocked one in the one error.
 */
export function checkPrunable(ghosts: readonly DriftFinding[], allowProtected: boolean): void {
  const blocked = ghosts.filter((g) => g.protected);
  if (blocked.length > 0 && !allowProtected) {
    throw new WfctlError(
      ErrorCode.PROTECTED_RESOURCE,
      `refusing to prune protected resource(s) from state: ${blocked.map((g) => `${g.name} (${g.type})`).join(", ")}; nothing was pruned. ` +
        "They are gone from the provider but marked protected: check why, then run again with --allow-protected-prune to prune them",
    );
  }
}

/** The lock every mutating operation takes on its state namespace. */
export const STACK_LOCK = "stack";

export class Engine {
  readonly memory = new MemoryStores();

  constructor(
    readonly supervisor: PluginSupervisor,
    private readonly logger: Logger,
    private readonly audit: AuditSink = () => {},
  ) {}

  /** Operations in flight, by id: what Cancel aborts and `daemon status` shows. */
  private readonly running = new Map<string, RunningOperation>();

  /**
   * An operation's context: its signal aborts when the caller goes away, when
   * Cancel is called for it, or when its deadline passes. `done` must be called
   * when it ends.
   */
  private context(operation: string, request: OperationRequest): OperationContext & { done: () => void } {
    const operationId = request.operationId || randomUUID();
    if (this.running.has(operationId)) throw new WfctlError(ErrorCode.ALREADY_EXISTS, `operation ${operationId} is already running`);
    const cancel = new AbortController();
    this.running.set(operationId, {
      id: operationId,
      operation,
      target: request.target,
      caller: request.caller,
      startedAt: new Date(),
      lock: undefined,
      controller: cancel,
    });
    const signals = [request.signal, cancel.signal];
    let timer: NodeJS.Timeout | undefined;
    if (request.deadline) {
      const expired = new AbortController();
      const ms = request.deadline.getTime() - Date.now();
      const fire = () => expired.abort(new WfctlError(ErrorCode.DEADLINE_EXCEEDED, `the operation's deadline passed (${request.deadline?.toISOString()})`));
      if (ms <= 0) fire();
      else timer = setTimeout(fire, ms);
      signals.push(expired.signal);
    }
    return {
      operationId,
      operation,
      signal: AbortSignal.any(signals),
      deadline: request.deadline,
      caller: request.caller,
      trace: request.trace ?? ROOT_CONTEXT,
      log: this.logger.child({ op: operation, op_id: operationId, env: request.target.env || undefined }),
      done: () => {
        if (timer) clearTimeout(timer);
        this.running.delete(operationId);
      },
    };
  }

  /** Cancels a running operation (Ctrl-C in its client); false if none has that id. */
  cancel(operationId: string, by: string, reason?: WfctlError): boolean {
    const running = this.running.get(operationId);
    if (!running) return false;
    this.logger.info({ op_id: operationId, by }, "operation cancelled");
    running.controller.abort(reason ?? new WfctlError(ErrorCode.CANCELLED, `cancelled by ${by}`));
    return true;
  }

  /** The operations running now, oldest first. */
  operations(): RunningOperation[] {
    return [...this.running.values()].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  }

  /** Cancels every running operation (daemon shutdown after its grace period). */
  cancelAll(by: string, reason: WfctlError): number {
    for (const id of this.running.keys()) this.cancel(id, by, reason);
    return this.running.size;
  }

  /** How many operations are running. */
  get activeOperations(): number {
    return this.running.size;
  }

  /** The plugins a configuration can use: the built-in ones and those its wfctl.yaml declares (locked). */
  async catalogFor(configDir: string): Promise<PluginCatalog> {
    return this.supervisor.catalog.extend(await projectPluginSpecs(configDir));
  }

  private async open(ctx: OperationContext, target: Target): Promise<{ config: InfraConfig; store: StateStore; sessions: ProviderSessions }> {
    const config = await loadInfraConfig(target.configPath, target.env);
    const catalog = await this.catalogFor(config.dir);
    const store = await openStateStore(config, { supervisor: this.supervisor, catalog, memory: this.memory, signal: ctx.signal });
    return { config, store, sessions: new ProviderSessions(config, this.supervisor, catalog, ctx) };
  }

  async plan(request: OperationRequest, options: { destroy: boolean }): Promise<Plan> {
    const ctx = this.context(options.destroy ? "plan-destroy" : "plan", request);
    try {
      const { config, store, sessions } = await this.open(ctx, request.target);
      try {
        const plan = await computePlan(config, store, sessions, ctx, options);
        ctx.log.info({ changes: plan.changes.filter((c) => c.action !== "noop").length }, "planned");
        return plan;
      } finally {
        await store.close();
      }
    } catch (err) {
      throw ctx.signal.aborted ? abortError(ctx.signal) : err;
    } finally {
      ctx.done();
    }
  }

  apply(request: OperationRequest, options: ApplyOptions): Promise<ApplyResult> {
    return this.mutate("apply", request, options, false);
  }

  destroy(request: OperationRequest, options: ApplyOptions): Promise<ApplyResult> {
    return this.mutate("destroy", request, options, true);
  }

  private async mutate(operation: string, request: OperationRequest, options: ApplyOptions, destroy: boolean): Promise<ApplyResult> {
    const ctx = this.context(operation, request);
    try {
      return await this.mutateIn(ctx, request, options, destroy);
    } catch (err) {
      // Stopped before any change started: nothing to report but why.
      throw ctx.signal.aborted ? abortError(ctx.signal) : err;
    } finally {
      ctx.done();
    }
  }

  private async mutateIn(ctx: OperationContext, request: OperationRequest, options: ApplyOptions, destroy: boolean): Promise<ApplyResult> {
    const operation = ctx.operation;
    const { config, store, sessions } = await this.open(ctx, request.target);
    let lock: LockInfo | undefined;
    try {
      lock = await store.lock(
        STACK_LOCK,
        { holder: `${request.caller.user} (pid ${request.caller.pid}, wfctld pid ${process.pid})`, operation, version: WFCTL_VERSION },
        { signal: ctx.signal },
      );
      const running = this.running.get(ctx.operationId);
      if (running) running.lock = { id: lock.lockId, scope: `${describeBackend(config)}, lock "${STACK_LOCK}"` };
      const parallelism = options.parallelism && options.parallelism > 0 ? options.parallelism : DEFAULT_PARALLELISM;
      let drift: DriftFinding[] = [];
      const pruned: AuditEntry[] = [];
      if (options.refresh && !destroy) {
        drift = await detectDrift(config, store, sessions, ctx, parallelism);
        const ghosts = drift.filter((d) => d.class === "ghost");
        checkPrunable(ghosts, options.allowProtectedPrune ?? false);
        for (const ghost of ghosts) {
          await store.deleteState(ghost.name, { signal: AbortSignal.timeout(60_000) });
          const entry: AuditEntry = {
            time: new Date().toISOString(),
            action: "prune",
            operation: `${operation} --refresh`,
            resource: ghost.name,
            type: ghost.type,
            environment: config.env,
            caller: request.caller.user,
            operationId: ctx.operationId,
          };
          pruned.push(entry);
          this.audit(entry);
          ctx.log.warn({ audit: entry }, `pruned ghost ${ghost.name} (${ghost.type}) from state`);
        }
      }
      const plan = await computePlan(config, store, sessions, ctx, { destroy });
      if (options.expectedFingerprint && options.expectedFingerprint !== plan.fingerprint) {
        throw new WfctlError(
          ErrorCode.PLAN_STALE,
          "the plan changed since it was shown (configuration or state changed meanwhile); nothing was applied — review the new plan and run again",
        );
      }
      checkProtected(plan);
      const { outcomes, stopped } = await applyPlan(plan, { config, store, sessions, ctx }, {
        parallelism,
        onSettled: (change, outcome) =>
          ctx.log.info({ resource: change.name, type: change.type, action: change.action, outcome: outcome.outcome }, "resource settled"),
      });
      if (stopped) ctx.log.warn({ code: stopped.code, reason: stopped.message }, `${operation} stopped before finishing`);
      return { plan, outcomes, stopped, drift, pruned };
    } finally {
      if (lock) {
        await store.unlock(STACK_LOCK, lock.lockId, { signal: AbortSignal.timeout(30_000) }).catch((err: unknown) => {
          ctx.log.error({ err: (err as Error).message, lock: lock?.lockId }, "could not release the state lock");
        });
      }
      await store.close();
    }
  }

  /** What each resource in state looks like now (read-only: no lock, no change). */
  async drift(request: OperationRequest): Promise<{ findings: DriftFinding[]; backend: string; namespace: string }> {
    const ctx = this.context("drift", request);
    try {
      const { config, store, sessions } = await this.open(ctx, request.target);
      try {
        const findings = await detectDrift(config, store, sessions, ctx, DEFAULT_PARALLELISM);
        ctx.log.info({ drifted: findings.filter((f) => f.drifted).length, ghosts: findings.filter((f) => f.class === "ghost").length }, "drift detected");
        return { findings, backend: describeBackend(config), namespace: config.namespace };
      } finally {
        await store.close();
      }
    } catch (err) {
      throw ctx.signal.aborted ? abortError(ctx.signal) : err;
    } finally {
      ctx.done();
    }
  }

  /** Writes .wfctl-lock.yaml for the wfctl.yaml beside `configPath`, starting each plugin once to read its version. */
  async lockPlugins(configPath: string): Promise<{ lockfile: string; entries: Record<string, LockEntry> }> {
    return lockProjectPlugins(dirname(configPath), async (spec) => {
      const probe = new PluginInstance(spec, "lock", this.logger.child({ plugin: spec.name, op: "plugins-lock" }));
      try {
        await probe.start();
        return probe.info?.version ?? "";
      } finally {
        await probe.stop();
      }
    });
  }

  /** The records in state, with the backend and namespace they came from. */
  async listState(request: OperationRequest): Promise<{ resources: ResourceState[]; backend: string; namespace: string }> {
    const ctx = this.context("state-list", request);
    try {
      return await this.listIn(ctx, request);
    } finally {
      ctx.done();
    }
  }

  private async listIn(ctx: OperationContext, request: OperationRequest): Promise<{ resources: ResourceState[]; backend: string; namespace: string }> {
    const config = await loadInfraConfig(request.target.configPath, request.target.env);
    const catalog = await this.catalogFor(config.dir);
    const store = await openStateStore(config, { supervisor: this.supervisor, catalog, memory: this.memory, signal: ctx.signal });
    try {
      const resources = await store.listStates({}, { signal: ctx.signal });
      return { resources, backend: describeBackend(config), namespace: config.namespace };
    } finally {
      await store.close();
    }
  }
}
