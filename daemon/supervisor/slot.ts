// One plugin configuration as the supervisor keeps it: the instance running
// for it (if any), the start in progress, and the history operators see
// (restarts, the last error and the last words of the instance that died).
import type { PluginSpec } from "./catalog.js";
import type { PluginInstance } from "./instance.js";
import type { LogEntry } from "./logs.js";
import { CrashHistory, type RestartPolicy } from "./restart.js";

/** Which run of a setup this is: the first start of a slot's instance, or a restart. */
export interface SetupRun {
  /** True when the supervisor replaces an instance that crashed or hung (no operation is waiting for it). */
  restart: boolean;
}

/**
 * Runs (Configure) on a freshly started instance, and again after each
 * restart. Each run must set its own deadlines: a restart can come long after
 * the operation that first acquired the plugin has ended.
 */
export type InstanceSetup = (instance: PluginInstance, run: SetupRun) => Promise<void>;

/** What operators see of a slot: parked and failed slots start again on demand. */
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
  /** When the last periodic health check of this slot started (performance.now()). */
  lastHealthCheckAt = -Infinity;
  /** A start (or a scheduled restart) in progress. */
  pending: Promise<PluginInstance> | undefined;
  /** A health check of a suspect instance in progress (shared by everyone who acquires it meanwhile). */
  checking: { instance: PluginInstance; result: Promise<boolean> } | undefined;
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

  /** Keeps the last words of an instance that is going away, for `plugins inspect` and errors. */
  remember(gone: PluginInstance, error: string): void {
    this.lastError = error;
    this.lastLogs = gone.recentLogs(20);
    this.lastEntries = gone.recentLogEntries();
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
