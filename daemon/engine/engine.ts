// The engine: plan, apply, destroy and state listing for a configuration and
// environment. The daemon serves it over the socket; `wfctl --no-daemon` runs
// the very same code in the client process.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { LockInfo, ResourceState, StateStore } from "../../proto/state-store.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { loadInfraConfig } from "../config/load.js";
import type { InfraConfig } from "../config/model.js";
import { MemoryStores, describeBackend, openStateStore } from "../state/open.js";
import type { PluginSupervisor } from "../supervisor/supervisor.js";
import { type ResourceOutcome, applyPlan, checkProtected } from "./apply.js";
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
  signal: AbortSignal;
  deadline: Date | undefined;
}

export interface ApplyOptions {
  /** Refuse with PLAN_STALE unless the plan still has this fingerprint. */
  expectedFingerprint?: string;
  parallelism?: number;
}

export interface ApplyResult {
  plan: Plan;
  outcomes: ResourceOutcome[];
}

/** The lock every mutating operation takes on its state namespace. */
export const STACK_LOCK = "stack";

export class Engine {
  readonly memory = new MemoryStores();

  constructor(
    readonly supervisor: PluginSupervisor,
    private readonly logger: Logger,
  ) {}

  private context(operation: string, request: OperationRequest): OperationContext {
    const operationId = randomUUID();
    return {
      operationId,
      operation,
      signal: request.signal,
      deadline: request.deadline,
      caller: request.caller,
      log: this.logger.child({ op: operation, op_id: operationId, env: request.target.env || undefined }),
    };
  }

  private async open(ctx: OperationContext, target: Target): Promise<{ config: InfraConfig; store: StateStore; sessions: ProviderSessions }> {
    const config = await loadInfraConfig(target.configPath, target.env);
    const store = await openStateStore(config, { supervisor: this.supervisor, memory: this.memory, signal: ctx.signal });
    return { config, store, sessions: new ProviderSessions(config, this.supervisor, ctx) };
  }

  async plan(request: OperationRequest, options: { destroy: boolean }): Promise<Plan> {
    const ctx = this.context(options.destroy ? "plan-destroy" : "plan", request);
    const { config, store, sessions } = await this.open(ctx, request.target);
    try {
      const plan = await computePlan(config, store, sessions, ctx, options);
      ctx.log.info({ changes: plan.changes.filter((c) => c.action !== "noop").length }, "planned");
      return plan;
    } finally {
      await store.close();
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
    const { config, store, sessions } = await this.open(ctx, request.target);
    let lock: LockInfo | undefined;
    try {
      lock = await store.lock(
        STACK_LOCK,
        { holder: `${request.caller.user} (pid ${request.caller.pid}, wfctld pid ${process.pid})`, operation, version: WFCTL_VERSION },
        { signal: ctx.signal },
      );
      const plan = await computePlan(config, store, sessions, ctx, { destroy });
      if (options.expectedFingerprint && options.expectedFingerprint !== plan.fingerprint) {
        throw new WfctlError(
          ErrorCode.PLAN_STALE,
          "the plan changed since it was shown (configuration or state changed meanwhile); nothing was applied — review the new plan and run again",
        );
      }
      checkProtected(plan);
      const outcomes = await applyPlan(plan, { config, store, sessions, ctx }, {
        parallelism: options.parallelism && options.parallelism > 0 ? options.parallelism : DEFAULT_PARALLELISM,
        onSettled: (change, outcome) =>
          ctx.log.info({ resource: change.name, type: change.type, action: change.action, outcome: outcome.outcome }, "resource settled"),
      });
      return { plan, outcomes };
    } finally {
      if (lock) {
        await store.unlock(STACK_LOCK, lock.lockId, { signal: AbortSignal.timeout(30_000) }).catch((err: unknown) => {
          ctx.log.error({ err: (err as Error).message, lock: lock?.lockId }, "could not release the state lock");
        });
      }
      await store.close();
    }
  }

  /** The records in state, with the backend and namespace they came from. */
  async listState(request: OperationRequest): Promise<{ resources: ResourceState[]; backend: string; namespace: string }> {
    const ctx = this.context("state-list", request);
    const config = await loadInfraConfig(request.target.configPath, request.target.env);
    const store = await openStateStore(config, { supervisor: this.supervisor, memory: this.memory, signal: ctx.signal });
    try {
      const resources = await store.listStates({}, { signal: ctx.signal });
      return { resources, backend: describeBackend(config), namespace: config.namespace };
    } finally {
      await store.close();
    }
  }
}
