// The engine: plan, apply, refresh, drift, destroy, teardown, outputs and
// state listing for a configuration and environment. The daemon serves it over
// the socket; `wfctl --no-daemon` runs the very same code in the client process.
import { dirname } from "node:path";
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { LockInfo, ResourceState, StateStore } from "../../proto/state-store.js";
import { abortError } from "../../proto/grpc.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { loadInfraConfig } from "../config/load.js";
import type { InfraConfig } from "../config/model.js";
import { MemoryStores, describeBackend, openStateStore } from "../state/open.js";
import { SealingStore } from "./sealing.js";
import type { PluginCatalog } from "../supervisor/catalog.js";
import { PluginInstance } from "../supervisor/instance.js";
import { type LockEntry, lockProjectPlugins, projectPluginSpecs } from "../supervisor/manifest.js";
import type { PluginSupervisor } from "../supervisor/supervisor.js";
import { type ResourceOutcome, applyPlan, checkProtected } from "./apply.js";
import { type DriftFinding, detectDrift } from "./drift.js";
import { type OutputResult, type SinkFilter, collectOutputs, sensitiveValues } from "./outputs.js";
import type { JsonValue } from "../../proto/json.js";
import {
  type AuditEntry,
  type AuditSink,
  type RefreshUpdate,
  checkPrunable,
  ghostsOf,
  pruneEntry,
  pruneGhosts,
  readUpdates,
  saveUpdates,
  withoutRecords,
} from "./refresh.js";
import type { OperationContext } from "./context.js";
import { OperationRegistry, type OperationRequest, type RunningOperation, type Target } from "./operations.js";
import type { OperationJournal } from "./events.js";
import { type Plan, computePlan } from "./plan.js";
import { ProviderSessions } from "./providers.js";
import { DEFAULT_PARALLELISM } from "./scheduler.js";

export type { OperationRequest, RunningOperation, Target } from "./operations.js";

export interface ApplyOptions {
  /** Refuse with PLAN_STALE unless the plan still has this fingerprint. */
  expectedFingerprint?: string;
  parallelism?: number;
  /** Detect drift first, and prune ghosts from state before planning. */
  refresh?: boolean;
  /** With refresh: prune ghosts of protected resources too. */
  allowProtectedPrune?: boolean;
  /** Protected resources may be deleted or replaced (the second key). */
  allowProtectedDestroy?: boolean;
}

export interface RefreshOptions {
  /** Say what would change; change nothing and take no lock. */
  dryRun: boolean;
  allowProtectedPrune: boolean;
}

export interface RefreshResult {
  drift: DriftFinding[];
  /** Audit entries of the ghosts pruned (with dryRun: of those that would be). */
  pruned: AuditEntry[];
  updated: RefreshUpdate[];
  /** With dryRun: protected ghosts whose pruning would be refused. */
  blocked: DriftFinding[];
  dryRun: boolean;
  backend: string;
  namespace: string;
}

export interface TeardownOptions {
  /** Preview only: nothing is locked, destroyed or wiped. */
  dryRun: boolean;
  expectedFingerprint?: string;
  parallelism?: number;
  allowProtectedDestroy?: boolean;
}

export interface TeardownResult {
  plan: Plan;
  outcomes: ResourceOutcome[];
  stopped: WfctlError | undefined;
  /** "namespace/resource" keys wiped, or with dryRun, to be wiped. */
  stateKeys: string[];
  wiped: boolean;
  dryRun: boolean;
  backend: string;
  namespace: string;
}

export type { AuditEntry, AuditSink } from "./refresh.js";

export interface ApplyResult {
  plan: Plan;
  outcomes: ResourceOutcome[];
  /** Why the operation stopped before finishing (cancelled, deadline, a plugin lost); undefined when it ran to the end. */
  stopped: WfctlError | undefined;
  /** With refresh: the drift found, and the ghosts pruned (in order). */
  drift: DriftFinding[];
  pruned: AuditEntry[];
  /** The output sinks the configuration declares, and those marked on_apply. */
  sinks: { declared: number; onApply: number };
}

/** The lock every mutating operation takes on its state namespace. */
export const STACK_LOCK = "stack";

export class Engine {
  readonly memory = new MemoryStores();

  constructor(
    readonly supervisor: PluginSupervisor,
    private readonly logger: Logger,
    private readonly audit: AuditSink = () => {},
  ) {
    this.running = new OperationRegistry(logger);
  }

  /** Operations in flight: what Cancel aborts and `daemon status` shows. */
  private readonly running: OperationRegistry;

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
  async catalogFor(configDir: string): Promise<PluginCatalog> {
    return this.supervisor.catalog.extend(await projectPluginSpecs(configDir));
  }

  private async open(ctx: OperationContext, target: Target): Promise<Opened> {
    const config = await loadInfraConfig(target.configPath, target.env);
    const catalog = await this.catalogFor(config.dir);
    const backend = await openStateStore(config, { supervisor: this.supervisor, catalog, memory: this.memory, signal: ctx.signal });
    const sessions = new ProviderSessions(config, this.supervisor, catalog, ctx);
    // Sensitive values are sealed on their way into state, whatever saves them.
    const store = new SealingStore(backend, async (record) =>
      config.providers.has(record.provider) ? (await sessions.get(record.provider)).schema.types.get(record.resourceType) : undefined,
    );
    return { config, store, sessions };
  }

  /**
   * Runs `work` as operation `operation`: configuration loaded, state store
   * open (closed after), and, when `locked`, the stack lock held throughout.
   * An operation stopped before it could report says why (cancelled, deadline).
   */
  private async run<T>(operation: string, request: OperationRequest, locked: boolean, work: (ctx: OperationContext, opened: Opened) => Promise<T>): Promise<T> {
    const ctx = this.running.start(operation, request);
    let failure: unknown;
    try {
      const opened = await this.open(ctx, request.target);
      let lock: LockInfo | undefined;
      try {
        if (locked) {
          lock = await opened.store.lock(
            STACK_LOCK,
            { holder: `${request.caller.user} (pid ${request.caller.pid}, wfctld pid ${process.pid})`, operation, version: WFCTL_VERSION },
            { signal: ctx.signal },
          );
          const running = this.running.get(ctx.operationId);
          if (running) running.lock = { id: lock.lockId, scope: `${describeBackend(opened.config)}, lock "${STACK_LOCK}"` };
        }
        return await work(ctx, opened);
      } finally {
        if (lock) {
          const held = lock.lockId;
          await opened.store.unlock(STACK_LOCK, held, { signal: AbortSignal.timeout(30_000) }).catch((err: unknown) => {
            ctx.log.error({ err: (err as Error).message, lock: held }, "could not release the state lock");
          });
        }
        await opened.store.close();
      }
    } catch (err) {
      failure = ctx.signal.aborted ? abortError(ctx.signal) : err;
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
    return this.run("apply", request, true, (ctx, opened) => this.mutateIn(ctx, opened, options, false));
  }

  destroy(request: OperationRequest, options: ApplyOptions): Promise<ApplyResult> {
    return this.run("destroy", request, true, (ctx, opened) => this.mutateIn(ctx, opened, options, true));
  }

  private async mutateIn(ctx: OperationContext, opened: Opened, options: ApplyOptions, destroy: boolean): Promise<ApplyResult> {
    const { config, store, sessions } = opened;
    const parallelism = parallelismOf(options.parallelism);
    let drift: DriftFinding[] = [];
    let ghosts: DriftFinding[] = [];
    if (options.refresh && !destroy) {
      drift = await detectDrift(config, store, sessions, ctx, parallelism);
      ghosts = ghostsOf(drift);
      checkPrunable(ghosts, options.allowProtectedPrune ?? false);
    }
    // Planned as if the ghosts were already pruned, and checked, before the
    // first prune: a refused or failed plan leaves state as it was.
    const plan = await computePlan(config, withoutRecords(store, ghosts.map((g) => g.name)), sessions, ctx, { destroy });
    checkFingerprint(plan, options.expectedFingerprint);
    checkProtected(plan, options.allowProtectedDestroy ?? false, destroy ? "wfctl infra destroy" : "wfctl infra apply");
    const pruned = await pruneGhosts(ghosts, `${ctx.operation} --refresh`, config, store, ctx, this.audit);
    const { outcomes, stopped } = await this.applyLogged(plan, opened, ctx, parallelism);
    // Unchanged resources take what was read (and the configuration's
    // protected and depends_on), as Terraform persists a refresh on apply.
    for (const change of plan.changes) {
      if (change.refreshed) await store.saveState(change.refreshed, { signal: AbortSignal.timeout(60_000) });
    }
    const sinks = config.outputs.flatMap((o) => o.sinks);
    return { plan, outcomes, stopped, drift, pruned, sinks: { declared: sinks.length, onApply: sinks.filter((s) => s.onApply).length } };
  }

  private async applyLogged(plan: Plan, { config, store, sessions }: Opened, ctx: OperationContext, parallelism: number) {
    const result = await applyPlan(plan, { config, store, sessions, ctx }, {
      parallelism,
      onSettled: (change, outcome) =>
        ctx.log.info({ resource: change.name, type: change.type, action: change.action, outcome: outcome.outcome }, "resource settled"),
    });
    if (result.stopped) ctx.log.warn({ code: result.stopped.code, reason: result.stopped.message }, `${ctx.operation} stopped before finishing`);
    return result;
  }

  /**
   * Refresh-only: state takes what providers read now, ghosts are pruned
   * (protected ones only when allowed). No resource is changed. A dry run
   * takes no lock and writes nothing.
   */
  refresh(request: OperationRequest, options: RefreshOptions): Promise<RefreshResult> {
    return this.run("refresh", request, !options.dryRun, async (ctx, { config, store, sessions }) => {
      const drift = await detectDrift(config, store, sessions, ctx, DEFAULT_PARALLELISM);
      const ghosts = ghostsOf(drift);
      const summary = { drift, dryRun: options.dryRun, backend: describeBackend(config), namespace: config.namespace };
      if (options.dryRun) {
        const blocked = options.allowProtectedPrune ? [] : ghosts.filter((g) => g.protected);
        const updated = await readUpdates(drift, config, sessions, ctx, DEFAULT_PARALLELISM);
        const wouldPrune = blocked.length > 0 ? [] : ghosts.map((g) => pruneEntry(g, "refresh", config, ctx));
        return { ...summary, pruned: wouldPrune, updated, blocked };
      }
      checkPrunable(ghosts, options.allowProtectedPrune);
      // Every read before the first write: a failure leaves state as it was.
      const updated = await readUpdates(drift, config, sessions, ctx, DEFAULT_PARALLELISM);
      const pruned = await pruneGhosts(ghosts, "refresh", config, store, ctx, this.audit);
      await saveUpdates(updated, store, ctx);
      ctx.log.info({ pruned: pruned.length, updated: updated.length }, "refreshed");
      return { ...summary, pruned, updated, blocked: [] };
    });
  }

  /**
   * Destroys every resource in state, then wipes what is left of the
   * namespace. The wipe happens only when every destroy succeeded: otherwise
   * state keeps describing what still exists. A dry run previews, unlocked.
   */
  teardown(request: OperationRequest, options: TeardownOptions): Promise<TeardownResult> {
    return this.run("teardown", request, !options.dryRun, async (ctx, opened) => {
      const { config, store, sessions } = opened;
      const plan = await computePlan(config, store, sessions, ctx, { destroy: true });
      const keys = (records: readonly ResourceState[]) => records.map((r) => `${config.namespace}/${r.resourceId}`).sort();
      const base = { plan, backend: describeBackend(config), namespace: config.namespace, dryRun: options.dryRun };
      if (options.dryRun) {
        return { ...base, outcomes: [], stopped: undefined, stateKeys: keys(await store.listStates({}, { signal: ctx.signal })), wiped: false };
      }
      checkFingerprint(plan, options.expectedFingerprint);
      checkProtected(plan, options.allowProtectedDestroy ?? false, "wfctl infra teardown");
      const before = keys(await store.listStates({}, { signal: ctx.signal }));
      const { outcomes, stopped } = await this.applyLogged(plan, opened, ctx, parallelismOf(options.parallelism));
      if (stopped || outcomes.some((o) => o.outcome !== "succeeded")) {
        ctx.log.warn("teardown incomplete: state was not wiped and still records what exists");
        return { ...base, outcomes, stopped, stateKeys: [], wiped: false };
      }
      // Whatever is left (nothing, unless something wrote around the lock) goes too.
      const left = await store.listStates({}, { signal: AbortSignal.timeout(60_000) });
      for (const record of left) await store.deleteState(record.resourceId, { signal: AbortSignal.timeout(60_000) });
      const stateKeys = [...new Set([...before, ...keys(left)])].sort();
      ctx.log.warn({ destroyed: outcomes.length, wiped: stateKeys.length }, "teardown complete: resources destroyed, state wiped");
      return { ...base, outcomes, stopped, stateKeys, wiped: true };
    });
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

  /**
   * Releases the stack lock `lockId` (left by a holder that died), saying who
   * held it. Refuses when no lock is held, or the one held has another id:
   * it never releases a lock someone took since. Audited.
   */
  unlockState(request: OperationRequest, lockId: string): Promise<{ heldBy: string; audit: AuditEntry; backend: string; namespace: string }> {
    return this.run("state-unlock", request, false, async (ctx, { config, store }) => {
      let heldBy: string;
      try {
        const probe = await store.lock(STACK_LOCK, { holder: `${request.caller.user} (wfctl infra state unlock)`, operation: "state unlock", version: WFCTL_VERSION }, { signal: ctx.signal });
        await store.unlock(STACK_LOCK, probe.lockId, { signal: AbortSignal.timeout(30_000) });
        throw new WfctlError(ErrorCode.NOT_FOUND, `no state lock is held in ${describeBackend(config)}: nothing to unlock`);
      } catch (err) {
        const error = WfctlError.from(err);
        if (error.code !== ErrorCode.LOCK_HELD) throw error;
        heldBy = error.message;
      }
      if (!heldBy.includes(`lock id ${lockId}`)) {
        throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `not unlocking: ${heldBy}, not ${lockId}. Check the id (it may have been released and taken again)`);
      }
      await store.unlock(STACK_LOCK, lockId, { signal: ctx.signal });
      const audit: AuditEntry = {
        time: new Date().toISOString(),
        action: "unlock",
        operation: "state unlock",
        resource: STACK_LOCK,
        type: "lock",
        environment: config.env,
        caller: request.caller.user,
        operationId: lockId,
      };
      this.audit(audit);
      ctx.log.warn({ audit, held_by: heldBy }, `state lock ${lockId} released by hand`);
      return { heldBy, audit, backend: describeBackend(config), namespace: config.namespace };
    });
  }

  /** The records in state, with the backend and namespace they came from (no plugin is started unless the backend is one). */
  listState(request: OperationRequest): Promise<{ resources: ResourceState[]; backend: string; namespace: string }> {
    return this.run("state-list", request, false, async (ctx, { config, store }) => {
      const resources = await store.listStates({}, { signal: ctx.signal });
      return { resources, backend: describeBackend(config), namespace: config.namespace };
    });
  }
}

interface Opened {
  config: InfraConfig;
  store: StateStore;
  sessions: ProviderSessions;
}

function parallelismOf(requested: number | undefined): number {
  return requested && requested > 0 ? requested : DEFAULT_PARALLELISM;
}

/** Refuses with PLAN_STALE when what would be done is not what the user approved. */
function checkFingerprint(plan: Plan, expected: string | undefined): void {
  if (expected && expected !== plan.fingerprint) {
    throw new WfctlError(
      ErrorCode.PLAN_STALE,
      "the plan changed since it was shown (configuration or state changed meanwhile); nothing was applied — review the new plan and run again",
    );
  }
}
