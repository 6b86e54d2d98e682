// PluginSupervisor: owns every plugin process of a daemon. One slot per
// distinct plugin configuration holds at most one running instance, shared by
// concurrent requests. A slot restarts its instance after a crash (backoff
// with jitter), parks it after too many crashes, kills it after repeated
// failed health checks, and stops it when idle; the next request starts it
// again.
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { meter } from "../../proto/telemetry.js";
import type { PluginCatalog, PluginSpec } from "./catalog.js";
import { type InstanceOptions, PluginInstance } from "./instance.js";
import { type LogEntry, quoteLines } from "./logs.js";
import { CrashHistory, DEFAULT_RESTART_POLICY, type RestartPolicy } from "./restart.js";

export interface SupervisorOptions extends InstanceOptions {
  restart?: Partial<RestartPolicy>;
  /** How often running instances are health-checked (default 10 s; 0 = never). */
  healthIntervalMs?: number;
  /** Consecutive failed health checks after which an instance is killed and restarted (default 3). */
  healthFailuresToKill?: number;
  /** Instances unused for this long are stopped (default 15 min; 0 = never). */
  idleStopMs?: number;
}

/** Runs `setup` (Configure) on a freshly started instance, and again after each restart. */
export type InstanceSetup = (instance: PluginInstance) => Promise<void>;

export type SlotState = "starting" | "running" | "restarting" | "parked" | "idle" | "failed" | "stopped";

/** One plugin configuration: its current instance and its history. */
export class PluginSlot {
  state: SlotState = "starting";
  instance: PluginInstance | undefined;
  restarts = 0;
  lastError = "";
  /** stderr of the last instance that died (what an operator needs after a crash). */
  lastLogs: string[] = [];
  lastEntries: LogEntry[] = [];
  private readonly logListeners = new Set<(entry: LogEntry, instance: PluginInstance) => void>();
  parkedUntil = 0;
  failedHealthChecks = 0;
  /** A start (or a scheduled restart) in progress. */
  pending: Promise<PluginInstance> | undefined;
  readonly crashes: CrashHistory;

  constructor(
    readonly spec: PluginSpec,
    readonly key: string,
    public setup: InstanceSetup,
    policy: RestartPolicy,
  ) {
    this.crashes = new CrashHistory(policy);
  }

  get alive(): boolean {
    return this.instance?.alive ?? false;
  }

  recentLogs(n = 20): string[] {
    const own = this.instance?.recentLogs(n) ?? [];
    return own.length > 0 ? own : this.lastLogs.slice(-n);
  }

  /** Recent entries of the current instance, or of the last one if it is gone. */
  recentEntries(n = 50): { entries: LogEntry[]; instance: PluginInstance | undefined } {
    const own = this.instance?.recentLogEntries(n) ?? [];
    return { entries: own.length > 0 ? own : this.lastEntries.slice(-n), instance: this.instance };
  }

  /** New log lines of whichever instance runs in this slot (across restarts), until the returned function is called. */
  onLog(listener: (entry: LogEntry, instance: PluginInstance) => void): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  /** Routes an instance's lines to the slot's listeners. */
  attach(instance: PluginInstance): void {
    instance.onLog((entry) => {
      for (const listener of this.logListeners) listener(entry, instance);
    });
  }
}

/** A plugin as operators see it in `wfctl plugins list`. */
export interface PluginView {
  spec: PluginSpec;
  slot: PluginSlot | undefined;
}

const restartsCounter = () => meter().createCounter("wfctl.plugin.restarts", { description: "Automatic restarts of crashed plugins" });

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export class PluginSupervisor {
  private readonly slots = new Map<string, PluginSlot>();
  private readonly policy: RestartPolicy;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    readonly catalog: PluginCatalog,
    private readonly logger: Logger,
    private readonly options: SupervisorOptions = {},
  ) {
    this.policy = { ...DEFAULT_RESTART_POLICY, ...options.restart };
    const healthMs = options.healthIntervalMs ?? 10_000;
    if (healthMs > 0) this.timers.push(setInterval(() => void this.checkHealth(), healthMs).unref());
    const idleMs = options.idleStopMs ?? 15 * 60_000;
    if (idleMs > 0) this.timers.push(setInterval(() => void this.stopIdle(idleMs), Math.min(idleMs, 30_000)).unref());
  }

  /**
   * The running instance of plugin `spec` for configuration `key`, started
   * (or waited for, while it restarts) if needed. `signal` stops the wait.
   */
  async acquire(spec: PluginSpec, key: string, setup: InstanceSetup, signal?: AbortSignal): Promise<PluginInstance> {
    if (this.closed) throw new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, "the plugin supervisor is shut down");
    // The same name from another source (or another pinned file) is another plugin.
    const id = `${spec.kind}/${spec.name}/${spec.source}/${spec.pinned?.sha256 ?? ""}/${key}`;
    let slot = this.slots.get(id);
    if (!slot) {
      slot = new PluginSlot(spec, key, setup, this.policy);
      this.slots.set(id, slot);
    }
    slot.setup = setup;
    const current = slot.instance;
    if (current?.alive) {
      current.lastUsed = Date.now();
      return current;
    }
    if (slot.state === "parked") {
      if (Date.now() < slot.parkedUntil) throw this.parkedError(slot);
      slot.crashes.reset();
    }
    slot.pending ??= this.start(slot);
    const pending = slot.pending;
    if (!signal) return pending;
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(WfctlError.from(signal.reason, ErrorCode.CANCELLED));
      signal.addEventListener("abort", onAbort, { once: true });
      pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  private parkedError(slot: PluginSlot): WfctlError {
    const retry = Math.max(0, Math.ceil((slot.parkedUntil - Date.now()) / 1000));
    return new WfctlError(
      ErrorCode.PLUGIN_UNAVAILABLE,
      `plugin "${slot.spec.name}" is parked: it crashed too often (${this.policy.maxCrashes} times within ${this.policy.windowMs / 1000} s); ` +
        `it will be tried again on demand in ${retry} s. Last error: ${slot.lastError}\nIts last stderr lines:\n${quoteLines(slot.lastLogs.slice(-20))}`,
    );
  }

  /** Starts an instance for the slot and runs its setup; the slot follows what happens. */
  private async start(slot: PluginSlot, delayMs = 0): Promise<PluginInstance> {
    try {
      if (delayMs > 0) await sleep(delayMs);
      if (this.closed) throw new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, "the plugin supervisor is shut down");
      slot.state = slot.state === "restarting" ? "restarting" : "starting";
      const instance = new PluginInstance(slot.spec, slot.key, this.logger.child({ plugin: slot.spec.name, key: slot.key.slice(0, 12) }), this.options);
      slot.instance = instance;
      slot.attach(instance);
      instance.onCrash((dead) => this.crashed(slot, dead));
      try {
        await instance.start();
        await slot.setup(instance);
      } catch (err) {
        const error = WfctlError.from(err);
        slot.lastError = error.message;
        slot.lastLogs = instance.recentLogs(20);
        slot.lastEntries = instance.recentLogEntries();
        await instance.stop();
        instance.state = "failed";
        slot.state = "failed";
        throw error;
      }
      slot.state = "running";
      slot.failedHealthChecks = 0;
      return instance;
    } finally {
      slot.pending = undefined;
    }
  }

  /** An instance died after it was running: restart it after a backoff, or park the slot. */
  private crashed(slot: PluginSlot, dead: PluginInstance): void {
    if (this.closed || slot.instance !== dead) return;
    slot.lastError = dead.lastError;
    slot.lastLogs = dead.recentLogs(20);
    slot.lastEntries = dead.recentLogEntries();
    const decision = slot.crashes.record(Date.now(), dead.uptimeMs);
    if (decision.action === "park") {
      slot.state = "parked";
      slot.parkedUntil = Date.now() + this.policy.parkMs;
      this.logger.error(
        { plugin: slot.spec.name, crashes: decision.crashes, last_stderr: slot.lastLogs.slice(-5) },
        `plugin "${slot.spec.name}" crashed ${decision.crashes} times within ${this.policy.windowMs / 1000} s; parked for ${this.policy.parkMs / 1000} s`,
      );
      return;
    }
    slot.state = "restarting";
    slot.restarts++;
    restartsCounter().add(1, { "wfctl.plugin": slot.spec.name });
    this.logger.warn({ plugin: slot.spec.name, delay_ms: decision.delayMs, restarts: slot.restarts }, `restarting plugin "${slot.spec.name}"`);
    const restart = this.start(slot, decision.delayMs);
    slot.pending = restart;
    // A failed restart is a crash too: keep backing off until parked.
    restart.catch((err: unknown) => {
      if (this.closed) return;
      slot.lastError = WfctlError.from(err).message;
      const next = slot.crashes.record(Date.now(), 0);
      if (next.action === "park") {
        slot.state = "parked";
        slot.parkedUntil = Date.now() + this.policy.parkMs;
        this.logger.error({ plugin: slot.spec.name }, `plugin "${slot.spec.name}" keeps failing to restart; parked`);
        return;
      }
      slot.state = "restarting";
      slot.restarts++;
      restartsCounter().add(1, { "wfctl.plugin": slot.spec.name });
      slot.pending = this.start(slot, next.delayMs);
      slot.pending.catch(() => {}); // reported through the slot and the next acquire
    });
  }

  /** Health-checks running instances; kills one that fails too many checks in a row (it is then restarted). */
  private async checkHealth(): Promise<void> {
    const limit = this.options.healthFailuresToKill ?? 3;
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        const instance = slot.instance;
        if (!instance?.alive) return;
        if (await instance.probe(2_000)) {
          slot.failedHealthChecks = 0;
          return;
        }
        slot.failedHealthChecks++;
        this.logger.warn({ plugin: slot.spec.name, failures: slot.failedHealthChecks, err: instance.lastError }, "plugin health check failed");
        if (slot.failedHealthChecks >= limit) {
          this.logger.error({ plugin: slot.spec.name }, `plugin "${slot.spec.name}" failed ${limit} health checks in a row; killing it`);
          instance.kill();
        }
      }),
    );
  }

  /** Stops instances nobody has used for `idleMs`; the next acquire starts them again. */
  private async stopIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        const instance = slot.instance;
        if (!instance?.alive || instance.inFlight > 0 || now - instance.lastUsed < idleMs) return;
        this.logger.info({ plugin: slot.spec.name, idle_s: Math.round((now - instance.lastUsed) / 1000) }, "stopping idle plugin");
        slot.state = "idle";
        await instance.stop();
      }),
    );
  }

  /** Every catalog entry with its slots (an entry with none is listed once, not started). */
  list(): PluginView[] {
    const views: PluginView[] = [];
    const slots = [...this.slots.values()];
    for (const spec of this.catalog.list()) {
      if (!slots.some((s) => s.spec.kind === spec.kind && s.spec.name === spec.name)) views.push({ spec, slot: undefined });
    }
    for (const slot of slots) views.push({ spec: slot.spec, slot });
    return views.sort((a, b) => a.spec.name.localeCompare(b.spec.name) || (a.slot?.key ?? "").localeCompare(b.slot?.key ?? ""));
  }

  runningCount(): number {
    return [...this.slots.values()].filter((s) => s.alive).length;
  }

  /** Stops every plugin process; resolves when all have exited. No restarts after this. */
  async stopAll(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.allSettled([...this.slots.values()].map((s) => s.pending));
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        await slot.instance?.stop();
        if (slot.state !== "failed" && slot.state !== "parked") slot.state = "stopped";
      }),
    );
  }
}
