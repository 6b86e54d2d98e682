// The engine: plan, apply, refresh, drift, destroy, teardown, outputs and
// state listing for a configuration and environment. The daemon serves it over
// the socket; `wfctl --no-daemon` runs the very same code in the client process.
// Each operation runs through run(): registered (so it can be cancelled and
// watched), its target opened, the stack lock held when it changes anything
// (and a lock whose release failed kept and retried: lock-releases.ts).
import { dirname } from "node:path";
import type { Logger } from "pino";
import { WfctlError, abortError } from "../../proto/errors.js";
import type { LockInfo, ResourceState } from "../../proto/state-store.js";
import type { JsonValue } from "../../proto/json.js";
import { MemoryStores, type StateLocation, describeBackend, locateState, openStateStore } from "../state/open.js";
import type { PluginCatalog } from "../supervisor/catalog.js";
import { PluginInstance } from "../supervisor/instance.js";
import { type LockMode, type LockResult, lockProjectPlugins } from "../supervisor/lock-project.js";
import type { PluginSupervisor } from "../supervisor/supervisor.js";
import { type OperationContext, storeContext } from "./context.js";
import { type DriftFinding, detectDrift } from "./drift.js";
import { environmentNames } from "./environment-names.js";
import type { OperationJournal } from "./events.js";
import { type ApplyOptions, type ApplyResult, mutate } from "./mutate.js";
import { OperationRegistry, type RunningOperation } from "./operations.js";
import { type OutputResult, type SinkFilter, collectOutputs, sensitiveValues } from "./outputs.js";
import { type Plan, type PlanScope, computePlan } from "./plan.js";
import { type SavedPlanRecord, recordSavedPlan } from "./saved-plan.js";
import { type AuditSink, type RefreshOptions, type RefreshResult, ghostsOf, refreshState } from "./refresh.js";
import type { OperationRequest } from "./request.js";
import { DEFAULT_PARALLELISM } from "./scheduler.js";
import { LockReleases, type PendingRelease } from "./lock-releases.js";
import { type LockKeeper, type LockPlace, type UnlockResult, releaseStackLock, stackLockScope, takeStackLock, unlockStack } from "./stack-lock.js";
import { type HeldLock, describeHeld, heldLocks } from "./state-locks.js";
import { type OpenedTarget, catalogFor, openTarget } from "./target.js";
import { type TeardownOptions, type TeardownResult, teardown } from "./teardown.js";
import { type ImportResult, type MoveResult, type RemoveResult, importResource, moveRecord, removeRecords } from "./state-edits.js";

export type { OperationRequest, Target } from "./request.js";
export type { RunningOperation } from "./operations.js";
export type { ApplyOptions, ApplyResult } from "./mutate.js";
export type { AuditEntry, AuditSink, RefreshOptions, RefreshResult } from "./refresh.js";
export type { TeardownOptions, TeardownResult } from "./teardown.js";
export type { ImportResult, MoveResult, RemoveResult } from "./state-edits.js";
export { STACK_LOCK } from "./stack-lock.js";
export type { PendingRelease } from "./lock-releases.js";
export type { HeldLock } from "./state-locks.js";

/** What an operation's caller is told besides its result: where its state is, and warnings (a lock that could not be released). */
export interface RunNotes extends StateLocation {
  warnings: string[];
}

function emptyNotes(): RunNotes {
  return { backend: "", namespace: "", warnings: [] };
}

/** `err` with `warning` added to its message (an operation that failed and then could not release its lock). */
function withWarning(err: unknown, warning: string): WfctlError {
  const error = WfctlError.from(err);
  return error.rephrased(`${error.message}. Also: ${warning}`);
}

export class Engine {
  readonly memory = new MemoryStores();
  /** Operations in flight: what Cancel aborts and `daemon status` shows. */
  private readonly running: OperationRegistry;
  /** State locks whose release failed, retried until released. */
  private readonly releases: LockReleases;

  /**
   * `retryLockReleasesInBackground`: false for an engine that lives only as
   * long as one command (`--no-daemon`), which then says how to release a
   * lock it could not, instead of promising retries.
   */
  constructor(
    readonly supervisor: PluginSupervisor,
    private readonly logger: Logger,
    private readonly audit: AuditSink = () => {},
    options: { retryLockReleasesInBackground?: boolean } = {},
  ) {
    this.running = new OperationRegistry(logger);
    this.releases = new LockReleases(logger, { background: options.retryLockReleasesInBackground ?? true });
  }

  /** What the stack-lock code needs to know of this engine's locks. */
  private get keeper(): LockKeeper {
    return { releases: this.releases, holderOf: (lockId) => this.running.list().find((o) => o.lock?.id === lockId) };
  }

  /** State locks whose release failed and is being retried, oldest first (`daemon status`). */
  pendingLockReleases(): PendingRelease[] {
    return this.releases.list();
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

  /** The lock place of an opened target: its store, and how to open that store again later. */
  private lockPlace(opened: OpenedTarget, target: OperationRequest["target"]): LockPlace {
    const { config } = opened;
    return {
      store: opened.store,
      config,
      target,
      reopen: async (signal) =>
        openStateStore(config, {
          supervisor: this.supervisor,
          catalog: await catalogFor(this.supervisor, config.dir),
          memory: this.memory,
          signal,
          environment: target.environment ?? {},
          metadata: opened.storeMetadata,
        }),
    };
  }

  /**
   * Runs `work` as operation `operation`: configuration loaded, state store
   * open (closed after), and, when `locked`, the stack lock held throughout.
   * An operation stopped before it could report says why (cancelled,
   * deadline). `notes`, when given, receives where its state is and any
   * warning (a lock whose release failed; on failure it joins the error).
   */
  private async run<T>(
    operation: string,
    request: OperationRequest,
    locked: boolean,
    work: (ctx: OperationContext, opened: OpenedTarget) => Promise<T>,
    notes?: RunNotes,
  ): Promise<T> {
    const ctx = this.running.start(operation, request);
    let failure: unknown;
    try {
      const opened = await openTarget({ supervisor: this.supervisor, memory: this.memory, logger: this.logger }, ctx, request.target);
      if (notes) Object.assign(notes, locateState(opened.config));
      const place = this.lockPlace(opened, request.target);
      let lock: LockInfo | undefined;
      let outcome: { value: T } | { error: unknown };
      try {
        if (locked) {
          lock = await takeStackLock(place, request.caller, operation, ctx, this.keeper);
          const running = this.running.get(ctx.operationId);
          if (running) running.lock = { id: lock.lockId, scope: stackLockScope(opened.config) };
        }
        outcome = { value: await work(ctx, opened) };
      } catch (err) {
        outcome = { error: err };
      }
      let warning: string | undefined;
      try {
        if (lock) warning = await releaseStackLock(place, lock, ctx, this.keeper);
      } finally {
        await opened.store.close();
      }
      if ("error" in outcome) throw warning ? withWarning(outcome.error, warning) : outcome.error;
      if (warning) notes?.warnings.push(warning);
      return outcome.value;
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

  /** The plan, with where its state is; with `save`, also what a plan file records to be checked when applied (saved-plan.ts). */
  async plan(request: OperationRequest, options: { destroy: boolean; save?: boolean } & Partial<PlanScope>): Promise<Plan & RunNotes & { saved?: SavedPlanRecord }> {
    const notes = emptyNotes();
    const planned = await this.run(
      options.destroy ? "plan-destroy" : "plan",
      request,
      false,
      async (ctx, { config, store, sessions }) => {
        const plan = await computePlan(config, store, sessions, ctx, options);
        ctx.log.info({ changes: plan.changes.filter((c) => c.action !== "noop").length, targets: plan.targets.length || undefined }, "planned");
        const saved = options.save ? await recordSavedPlan({ plan, config, sessions, where: locateState(config) }) : undefined;
        return { plan, saved };
      },
      notes,
    );
    return { ...planned.plan, ...notes, warnings: [...planned.plan.warnings, ...notes.warnings], saved: planned.saved };
  }

  /** Apply; with a saved plan, its destroy (a plan --destroy saved) is what is applied. */
  async apply(request: OperationRequest, options: ApplyOptions): Promise<ApplyResult & RunNotes> {
    const notes = emptyNotes();
    const destroy = options.savedPlan?.destroy ?? false;
    return { ...(await this.run("apply", request, true, (ctx, opened) => mutate(ctx, opened, options, destroy, this.audit), notes)), ...notes };
  }

  async destroy(request: OperationRequest, options: ApplyOptions): Promise<ApplyResult & RunNotes> {
    const notes = emptyNotes();
    return { ...(await this.run("destroy", request, true, (ctx, opened) => mutate(ctx, opened, options, true, this.audit), notes)), ...notes };
  }

  /** Refresh-only (see refreshState). A dry run takes no lock and writes nothing. */
  async refresh(request: OperationRequest, options: RefreshOptions): Promise<RefreshResult & RunNotes> {
    const notes = emptyNotes();
    return { ...(await this.run("refresh", request, !options.dryRun, (ctx, opened) => refreshState(ctx, opened, options, this.audit), notes)), ...notes };
  }

  /** Destroys everything in state, then wipes the namespace (see teardown). A dry run previews, unlocked. */
  async teardown(request: OperationRequest, options: TeardownOptions): Promise<TeardownResult & RunNotes> {
    const notes = emptyNotes();
    return { ...(await this.run("teardown", request, !options.dryRun, (ctx, opened) => teardown(ctx, opened, options), notes)), ...notes };
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

  /** Which of its variables a client sends with requests about a target (environment-names.ts); the parse is kept for the operation that follows. */
  environmentNames(configPath: string, env: string): Promise<string[]> {
    return environmentNames(this.supervisor.catalog, configPath, env, this.logger);
  }

  /** Writes (or, in `check` mode, compares) .wfctl-lock.yaml for the wfctl.yaml beside `configPath`, starting each plugin once to read its version and reads_env. */
  async lockPlugins(configPath: string, mode: LockMode = "lock"): Promise<LockResult> {
    return lockProjectPlugins(dirname(configPath), async (spec) => {
      const probe = new PluginInstance(spec, "lock", this.logger.child({ plugin: spec.name, op: "plugins-lock" }));
      try {
        await probe.start();
        return { version: probe.info?.version ?? "", readsEnv: probe.info?.readsEnv ?? [] };
      } finally {
        await probe.stop();
      }
    }, mode);
  }

  /** Releases the stack lock `lockId` left by a holder that died, or with `force` whatever lock is held (see unlockStack). */
  unlockState(request: OperationRequest, unlock: { lockId: string; force: boolean }): Promise<UnlockResult> {
    return this.run("state-unlock", request, false, (ctx, opened) => unlockStack(this.lockPlace(opened, request.target), request.caller, unlock, ctx, this.audit, this.keeper));
  }

  /** The locks held in the target's state, each with whether its holder still runs and the command that releases it (see heldLocks). */
  listStateLocks(request: OperationRequest): Promise<{ locks: HeldLock[]; backend: string; namespace: string }> {
    return this.run("state-locks", request, false, async (ctx, { config, store }) => {
      const locks = await heldLocks(store, request.caller, "state locks", storeContext(ctx));
      return { locks: locks.map((lock) => describeHeld(lock, request.target)), backend: describeBackend(config), namespace: config.namespace };
    });
  }

  /** Adopts the existing resource `providerId` into state as the configured resource `name` (see importResource). */
  importResource(request: OperationRequest, name: string, providerId: string): Promise<ImportResult> {
    return this.run("import", request, true, (ctx, opened) => importResource(ctx, opened, name, providerId, this.audit));
  }

  /** Forgets state records without touching what they describe (see removeRecords). */
  removeStateRecords(request: OperationRequest, names: readonly string[], allowProtected: boolean): Promise<RemoveResult> {
    return this.run("state-rm", request, true, (ctx, opened) => removeRecords(ctx, opened, names, allowProtected, this.audit));
  }

  /** Renames a state record (see moveRecord). */
  moveStateRecord(request: OperationRequest, from: string, to: string): Promise<MoveResult> {
    return this.run("state-mv", request, true, (ctx, opened) => moveRecord(ctx, opened, from, to, this.audit));
  }

  /** The records in state, with the backend and namespace they came from (no plugin is started unless the backend is one). */
  listState(request: OperationRequest): Promise<{ resources: ResourceState[]; backend: string; namespace: string }> {
    return this.run("state-list", request, false, async (ctx, { config, store }) => {
      const resources = await store.listStates({}, storeContext(ctx));
      return { resources, backend: describeBackend(config), namespace: config.namespace };
    });
  }
}
