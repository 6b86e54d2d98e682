// The engine: plan, apply, refresh, drift, destroy, teardown, outputs and
// state listing for a configuration and environment. The daemon serves it over
// the socket; `wfctl --no-daemon` runs the very same code in the client process.
// Each operation runs through run(): registered (so it can be cancelled and
// watched), its target opened, the stack lock held when it changes anything.
import { dirname } from "node:path";
import type { Logger } from "pino";
import { WfctlError } from "../../proto/errors.js";
import type { LockInfo, ResourceState } from "../../proto/state-store.js";
import { abortError } from "../../proto/grpc.js";
import type { JsonValue } from "../../proto/json.js";
import { MemoryStores, describeBackend } from "../state/open.js";
import type { PluginCatalog } from "../supervisor/catalog.js";
import { PluginInstance } from "../supervisor/instance.js";
import { type LockEntry, lockProjectPlugins } from "../supervisor/manifest.js";
import type { PluginSupervisor } from "../supervisor/supervisor.js";
import type { OperationContext } from "./context.js";
import { type DriftFinding, detectDrift } from "./drift.js";
import type { OperationJournal } from "./events.js";
import { type ApplyOptions, type ApplyResult, mutate } from "./mutate.js";
import { OperationRegistry, type RunningOperation } from "./operations.js";
import { type OutputResult, type SinkFilter, collectOutputs, sensitiveValues } from "./outputs.js";
import { type Plan, computePlan } from "./plan.js";
import { type AuditSink, type RefreshOptions, type RefreshResult, ghostsOf, refreshState } from "./refresh.js";
import type { OperationRequest } from "./request.js";
import { DEFAULT_PARALLELISM } from "./scheduler.js";
import { STACK_LOCK, type UnlockResult, releaseStackLock, takeStackLock, unlockStack } from "./stack-lock.js";
import { type OpenedTarget, catalogFor, openTarget } from "./target.js";
import { type TeardownOptions, type TeardownResult, teardown } from "./teardown.js";

export type { OperationRequest, Target } from "./request.js";
export type { RunningOperation } from "./operations.js";
export type { ApplyOptions, ApplyResult } from "./mutate.js";
export type { AuditEntry, AuditSink, RefreshOptions, RefreshResult } from "./refresh.js";
export type { TeardownOptions, TeardownResult } from "./teardown.js";
export { STACK_LOCK } from "./stack-lock.js";

export class Engine {
  readonly memory = new MemoryStores();
  /** Operations in flight: what Cancel aborts and `daemon status` shows. */
  private readonly running: OperationRegistry;

  constructor(
    readonly supervisor: PluginSupervisor,
    private readonly logger: Logger,
    private readonly audit: AuditSink = () => {},
  ) {
    this.running = new OperationRegistry(logger);
  }

  /** Cancels a running operation (Ctrl-C in its client); false if none has that id. */
  cancel(operationId: string, by: string, reason?: WfctlError): boolean {
    return this.running.cancel(operationId, by, reason);
  }

  /** An operation's events (see OperationRegistry.journal). */
  journal(operationId: string, waitMs: number, signal: AbortSignal): Promise<OperationJournal> {
    return this.running.journal(operationId, waitMs, signal);
  }

  /** The operations running now, oldest first. */
  operations(): RunningOperation[] {
    return this.running.list();
  }

  /** Cancels every running operation (daemon shutdown after its grace period). */
  cancelAll(by: string, reason: WfctlError): number {
    return this.running.cancelAll(by, reason);
  }

  /** How many operations are running. */
  get activeOperations(): number {
    return this.running.size;
  }

  /** The plugins a configuration can use: the built-in ones and those its wfctl.yaml declares (locked). */
  catalogFor(configDir: string): Promise<PluginCatalog> {
    return catalogFor(this.supervisor, configDir);
  }

  /**
   * Runs `work` as operation `operation`: configuration loaded, state store
   * open (closed after), and, when `locked`, the stack lock held throughout.
   * An operation stopped before it could report says why (cancelled, deadline).
   */
  private async run<T>(operation: string, request: OperationRequest, locked: boolean, work: (ctx: OperationContext, opened: OpenedTarget) => Promise<T>): Promise<T> {
    const ctx = this.running.start(operation, request);
    let failure: unknown;
    try {
      const opened = await openTarget({ supervisor: this.supervisor, memory: this.memory, logger: this.logger }, ctx, request.target);
      let lock: LockInfo | undefined;
      try {
        if (locked) {
          lock = await takeStackLock(opened.store, request.caller, operation, ctx);
          const running = this.running.get(ctx.operationId);
          if (running) running.lock = { id: lock.lockId, scope: `${describeBackend(opened.config)}, lock "${STACK_LOCK}"` };
        }
        return await work(ctx, opened);
      } finally {
        if (lock) await releaseStackLock(opened.store, lock, ctx);
        await opened.store.close();
      }
    } catch (err) {
      // What stopped it, unless the error says more about that same stop (a
      // plugin that did not answer by the deadline names itself).
      const stop = ctx.signal.aborted ? abortError(ctx.signal) : undefined;
      failure = stop && !(err instanceof WfctlError && err.code === stop.code) ? stop : err;
      throw failure;
    } finally {
      ctx.done(failure);
    }
  }

  plan(request: OperationRequest, options: { destroy: boolean }): Promise<Plan> {
    return this.run(options.destroy ? "plan-destroy" : "plan", request, false, async (ctx, { config, store, sessions }) => {
      const plan = await computePlan(config, store, sessions, ctx, options);
      ctx.log.info({ changes: plan.changes.filter((c) => c.action !== "noop").length }, "planned");
      return plan;
    });
  }

  apply(request: OperationRequest, options: ApplyOptions): Promise<ApplyResult> {
    return this.run("apply", request, true, (ctx, opened) => mutate(ctx, opened, options, false, this.audit));
  }

  destroy(request: OperationRequest, options: ApplyOptions): Promise<ApplyResult> {
    return this.run("destroy", request, true, (ctx, opened) => mutate(ctx, opened, options, true, this.audit));
  }

  /** Refresh-only (see refreshState). A dry run takes no lock and writes nothing. */
  refresh(request: OperationRequest, options: RefreshOptions): Promise<RefreshResult> {
    return this.run("refresh", request, !options.dryRun, (ctx, opened) => refreshState(ctx, opened, options, this.audit));
  }

  /** Destroys everything in state, then wipes the namespace (see teardown). A dry run previews, unlocked. */
  teardown(request: OperationRequest, options: TeardownOptions): Promise<TeardownResult> {
    return this.run("teardown", request, !options.dryRun, (ctx, opened) => teardown(ctx, opened, options));
  }

  /** What each resource in state looks like now (read-only: no lock, no change). */
  drift(request: OperationRequest): Promise<{ findings: DriftFinding[]; backend: string; namespace: string }> {
    return this.run("drift", request, false, async (ctx, { config, store, sessions }) => {
      const findings = await detectDrift(config, store, sessions, ctx, DEFAULT_PARALLELISM);
      ctx.log.info({ drifted: findings.filter((f) => f.drifted).length, ghosts: ghostsOf(findings).length }, "drift detected");
      return { findings, backend: describeBackend(config), namespace: config.namespace };
    });
  }

  /** Outputs of applied resources (read-only); sensitive ones are flagged, masking is the caller's. */
  outputs(
    request: OperationRequest,
    names: readonly string[],
    sinks: SinkFilter = "all",
  ): Promise<{ outputs: OutputResult[]; declared: boolean; backend: string; namespace: string }> {
    return this.run("outputs", request, false, async (ctx, { config, store, sessions }) => {
      const { outputs, declared } = await collectOutputs(config, store, sessions, ctx, names, sinks);
      return { outputs, declared, backend: describeBackend(config), namespace: config.namespace };
    });
  }

  /** The sensitive values of a configuration and its state, for a CI runner to mask (see sensitiveValues). */
  sensitiveValues(request: OperationRequest): Promise<JsonValue[]> {
    return this.run("mask", request, false, (ctx, { config, store, sessions }) => sensitiveValues(config, store, sessions, ctx));
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

  /** Releases the stack lock `lockId` left by a holder that died (see unlockStack). */
  unlockState(request: OperationRequest, lockId: string): Promise<UnlockResult> {
    return this.run("state-unlock", request, false, (ctx, { config, store }) => unlockStack(store, config, request.caller, lockId, ctx, this.audit));
  }

  /** The records in state, with the backend and namespace they came from (no plugin is started unless the backend is one). */
  listState(request: OperationRequest): Promise<{ resources: ResourceState[]; backend: string; namespace: string }> {
    return this.run("state-list", request, false, async (ctx, { config, store }) => {
      const resources = await store.listStates({}, { signal: ctx.signal });
      return { resources, backend: describeBackend(config), namespace: config.namespace };
    });
  }
}
