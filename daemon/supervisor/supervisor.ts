// PluginSupervisor: owns every plugin process of a daemon. One slot per
// distinct plugin configuration holds at most one running instance, shared by
// concurrent requests. A slot restarts its instance after a crash (backoff
// with jitter), parks it after too many crashes, replaces a hung instance at
// once (found by a periodic health check, or by a short check before handing
// out an instance a call ran out of time on), and stops it when idle; the
// next request starts it again.
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { meter } from "../../proto/telemetry.js";
import { type PluginCatalog, type PluginSpec, specIdentity } from "./catalog.js";
import { type InstanceOptions, PluginInstance } from "./instance.js";
import { quoteLines } from "./logs.js";
import { environmentDigest } from "./plugin-env.js";
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from "./restart.js";
import { type InstanceSetup, PluginSlot } from "./slot.js";

export { PluginSlot, type InstanceSetup, type SetupRun, type SlotState } from "./slot.js";

/**
 * How hung plugins are found. A plugin answers a health check in well under
 * a millisecond over its Unix socket, so a 1 s probe fails only when its
 * event loop is stuck (or the process is stopped); a check every 2 s costs
 * nothing measurable. Three misses in a row (a plugin silent for ~5–7 s) are
 * needed to kill it on the periodic check alone, so a plugin briefly starved
 * of CPU on a busy CI host is not killed, and a miss does not count while the
 * plugin answers calls between checks (busy, not hung); a call that ran out
 * of time gets it checked at once instead (see PluginSupervisor.acquire).
 */
export const HEALTH_DEFAULTS = { intervalMs: 2_000, probeTimeoutMs: 1_000, failuresToKill: 3 } as const;

export interface SupervisorOptions extends InstanceOptions {
  restart?: Partial<RestartPolicy>;
  /** How often running instances are health-checked (default 2 s; 0 = never). */
  healthIntervalMs?: number;
  /** How long one health check may take, periodic or on demand (default 1 s). */
  healthProbeTimeoutMs?: number;
  /** Consecutive failed periodic health checks after which an instance is killed and replaced (default 3). */
  healthFailuresToKill?: number;
  /** Instances unused for this long are stopped (default 15 min; 0 = never). */
  idleStopMs?: number;
}

/** A plugin as operators see it in `wfctl plugins list`. */
export interface PluginView {
  spec: PluginSpec;
  slot: PluginSlot | undefined;
}

const restartsCounter = () => meter().createCounter("wfctl.plugin.restarts", { description: "Automatic restarts of crashed or hung plugins" });

/**
 * The key of a plugin instance: its configuration's key, and the digest of
 * the environment a request gave it (plugin-env.ts), so that two CI steps or
 * jobs with other credentials never share an instance. Without an
 * environment, the configuration's key as it is.
 */
export function instanceKey(configKey: string, environment: Readonly<Record<string, string>> | undefined): string {
  const digest = environmentDigest(environment);
  return digest === "" ? configKey : createHash("sha256").update(`${configKey}\0${digest}`).digest("hex");
}

/** Where the supervisor keeps a slot: plugin, how it is started (specIdentity), and instance key. */
function slotId(spec: PluginSpec, key: string): string {
  return `${spec.kind}/${spec.name}/${specIdentity(spec)}/${key}`;
}

/** setInterval fires at once for periods past 2^31 - 1 ms; longer ones mean "practically never". */
const period = (ms: number) => Math.min(ms, 2 ** 31 - 1);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

const shutDown = () => new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, "the plugin supervisor is shut down");

const abortReason = (signal: AbortSignal) => WfctlError.from(signal.reason, ErrorCode.CANCELLED);

/** `work`, or the abort reason as soon as `signal` fires (the work itself goes on). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

export class PluginSupervisor {
  private readonly slots = new Map<string, PluginSlot>();
  private readonly policy: RestartPolicy;
  private readonly health: { intervalMs: number; probeTimeoutMs: number; failuresToKill: number };
  private readonly timers: NodeJS.Timeout[] = [];
  private checkingHealth = false;
  private closed = false;

  constructor(
    readonly catalog: PluginCatalog,
    private readonly logger: Logger,
    private readonly options: SupervisorOptions = {},
  ) {
    this.policy = { ...DEFAULT_RESTART_POLICY, ...options.restart };
    this.health = {
      intervalMs: options.healthIntervalMs ?? HEALTH_DEFAULTS.intervalMs,
      probeTimeoutMs: options.healthProbeTimeoutMs ?? HEALTH_DEFAULTS.probeTimeoutMs,
      failuresToKill: Math.max(1, options.healthFailuresToKill ?? HEALTH_DEFAULTS.failuresToKill),
    };
    if (this.health.intervalMs > 0) this.timers.push(setInterval(() => this.background("health check", this.checkHealth()), period(this.health.intervalMs)).unref());
    const idleMs = options.idleStopMs ?? 15 * 60_000;
    if (idleMs > 0) this.timers.push(setInterval(() => this.background("idle stop", this.stopIdle(idleMs)), period(Math.min(idleMs, 30_000))).unref());
  }

  /** Work nobody awaits: its failure is logged, never an unhandled rejection. */
  private background(what: string, work: Promise<unknown>): void {
    work.catch((err: unknown) => this.logger.error({ err: WfctlError.from(err).message }, `plugin ${what} failed`));
  }

  /**
   * The running instance of plugin `spec` for configuration `key`, started
   * (or waited for, while it restarts) if needed. An instance a call ran out
   * of time on, or whose last health check failed, is checked first and
   * replaced at once if it does not answer. `signal` stops the wait (never
   * the start, which goes on for the next caller).
   */
  async acquire(spec: PluginSpec, key: string, setup: InstanceSetup, signal?: AbortSignal): Promise<PluginInstance> {
    if (this.closed) throw shutDown();
    // A caller that has already given up starts nothing.
    if (signal?.aborted) throw abortReason(signal);
    const slot = this.slotFor(spec, key, setup);
    // A (re)start under way: its instance is running before its setup
    // (Configure) has, and is handed out only once that is done.
    if (slot.pending) return untilAborted(slot.pending, signal);
    const current = slot.instance;
    if (current?.alive) {
      const trusted = (!current.suspect && current.healthy) || (await untilAborted(this.recheck(slot, current), signal));
      if (trusted && current.alive) {
        current.lastUsed = Date.now();
        return current;
      }
      if (this.closed) throw shutDown();
    }
    if (slot.state === "parked") {
      if (Date.now() < slot.parkedUntil) throw this.parkedError(slot);
      slot.crashes.reset();
    }
    if (signal?.aborted) throw abortReason(signal);
    return untilAborted(slot.pending ?? this.begin(slot, 0, false), signal);
  }

  /** The slot of one plugin configuration (made on first use); `setup` is what its next (re)start runs. */
  private slotFor(spec: PluginSpec, configKey: string, setup: InstanceSetup): PluginSlot {
    const key = instanceKey(configKey, spec.environment);
    // The same name started another way (source, file, args, env, ...) is another plugin.
    const id = slotId(spec, key);
    let slot = this.slots.get(id);
    if (!slot) {
      slot = new PluginSlot(spec, key, setup, this.policy);
      this.slots.set(id, slot);
    }
    slot.setup = setup;
    return slot;
  }

  private parkedError(slot: PluginSlot): WfctlError {
    const retry = Math.max(0, Math.ceil((slot.parkedUntil - Date.now()) / 1000));
    return new WfctlError(
      ErrorCode.PLUGIN_UNAVAILABLE,
      `plugin "${slot.spec.name}" is parked: it crashed (or hung) too often (${this.policy.maxCrashes} times within ${this.policy.windowMs / 1000} s); ` +
        `it will be tried again on demand in ${retry} s. Last error: ${slot.lastError}\nIts last stderr lines:\n${quoteLines(slot.lastLogs.slice(-20))}`,
    );
  }

  /**
   * Starts an instance for the slot (after `delayMs`) and makes it the slot's
   * pending start. The start always has a rejection handler of its own: its
   * failure is recorded in the slot and reaches whoever waits for it, and is
   * never unhandled when nobody does (every caller gave up).
   */
  private begin(slot: PluginSlot, delayMs: number, restart: boolean): Promise<PluginInstance> {
    const start = this.start(slot, delayMs, restart);
    slot.pending = start;
    const settled = () => {
      if (slot.pending === start) slot.pending = undefined;
    };
    start.then(settled, (err: unknown) => {
      settled();
      this.logger.debug({ plugin: slot.spec.name, err: WfctlError.from(err).message }, "plugin start failed");
    });
    return start;
  }

  /** Starts an instance for the slot and runs its setup; the slot follows what happens. */
  private async start(slot: PluginSlot, delayMs: number, restart: boolean): Promise<PluginInstance> {
    if (delayMs > 0) await sleep(delayMs);
    if (this.closed) throw shutDown();
    slot.state = restart ? "restarting" : "starting";
    const instance = new PluginInstance(slot.spec, slot.key, this.logger.child({ plugin: slot.spec.name, key: slot.key.slice(0, 12) }), this.options);
    slot.instance = instance;
    slot.attach(instance);
    instance.onCrash((dead) => this.crashed(slot, dead));
    // A call ran out of time on it: check it now, so the next caller finds a healthy plugin.
    instance.onSuspect((suspect) => this.background("health check", this.recheck(slot, suspect)));
    try {
      await instance.start();
      await slot.setup(instance, { restart });
    } catch (err) {
      const error = WfctlError.from(err);
      slot.remember(instance, error.message);
      await instance.stop();
      instance.state = "failed";
      slot.state = "failed";
      throw error;
    }
    slot.state = "running";
    slot.failedHealthChecks = 0;
    return instance;
  }

  /** An instance died after it was running: restart it after a backoff, or park the slot. */
  private crashed(slot: PluginSlot, dead: PluginInstance): void {
    // Dying during its setup fails the start in progress, which reports it.
    if (this.closed || slot.instance !== dead || slot.state === "starting" || slot.state === "restarting") return;
    slot.remember(dead, dead.lastError);
    const decision = slot.crashes.record(Date.now(), dead.uptimeMs);
    if (decision.action === "park") this.park(slot, `crashed ${decision.crashes} times within ${this.policy.windowMs / 1000} s`);
    else this.restart(slot, decision.delayMs);
  }

  /**
   * Kills a hung instance and starts a fresh one at once: a backoff would only
   * keep callers waiting. Counted as a restart, and in the crash history, so
   * a plugin that keeps hanging is parked like one that keeps crashing.
   */
  private replace(slot: PluginSlot, hung: PluginInstance, reason: string): void {
    if (this.closed || slot.instance !== hung || !hung.alive) return;
    const why = `${reason}; killed and replaced`;
    this.logger.error({ plugin: slot.spec.name, plugin_pid: hung.pid }, `${hung.who} ${reason}; killing it and starting a fresh instance`);
    hung.kill(why);
    slot.remember(hung, why);
    const decision = slot.crashes.record(Date.now(), hung.uptimeMs);
    if (decision.action === "park") this.park(slot, `crashed or hung ${decision.crashes} times within ${this.policy.windowMs / 1000} s`);
    else this.restart(slot, 0);
  }

  /** Starts the slot's next instance after `delayMs`; a restart that fails is a crash too, tried once more after a backoff. */
  private restart(slot: PluginSlot, delayMs: number, retry = true): void {
    slot.state = "restarting";
    slot.restarts++;
    restartsCounter().add(1, { "wfctl.plugin": slot.spec.name });
    this.logger.warn({ plugin: slot.spec.name, delay_ms: delayMs, restarts: slot.restarts, reason: slot.lastError }, `restarting plugin "${slot.spec.name}"`);
    this.begin(slot, delayMs, true).catch(() => {
      if (this.closed) return;
      const next = slot.crashes.record(Date.now(), 0);
      if (next.action === "park") this.park(slot, "keeps failing to restart");
      // After that the slot stays failed; the next acquire starts it again.
      else if (retry) this.restart(slot, next.delayMs, false);
    });
  }

  private park(slot: PluginSlot, why: string): void {
    slot.state = "parked";
    slot.parkedUntil = Date.now() + this.policy.parkMs;
    this.logger.error(
      { plugin: slot.spec.name, last_error: slot.lastError, last_stderr: slot.lastLogs.slice(-5) },
      `plugin "${slot.spec.name}" ${why}; parked for ${this.policy.parkMs / 1000} s`,
    );
  }

  /**
   * Asks a suspect instance (a call ran out of time on it, or its last health
   * check failed) whether it is serving, with a short deadline; replaces it
   * if it does not answer. Resolves to whether it can be used; one check at a
   * time per instance, shared by everyone who asks meanwhile.
   */
  private recheck(slot: PluginSlot, instance: PluginInstance): Promise<boolean> {
    if (slot.checking?.instance === instance) return slot.checking.result;
    const why = instance.suspect ? "a call to it ran out of time" : "its last health check failed";
    const ms = this.health.probeTimeoutMs;
    const result = instance.probe(ms).then((answered) => {
      if (slot.checking?.instance === instance) slot.checking = undefined;
      if (answered) {
        instance.suspect = false;
        slot.failedHealthChecks = 0;
        return true;
      }
      this.replace(slot, instance, `did not answer a health check within ${ms / 1000} s after ${why}`);
      return false;
    });
    slot.checking = { instance, result };
    return result;
  }

  /** Health-checks running instances; replaces one that fails too many checks in a row. Rounds never overlap. */
  private async checkHealth(): Promise<void> {
    if (this.checkingHealth || this.closed) return;
    this.checkingHealth = true;
    try {
      await Promise.all([...this.slots.values()].map((slot) => this.checkSlot(slot)));
    } finally {
      this.checkingHealth = false;
    }
  }

  private async checkSlot(slot: PluginSlot): Promise<void> {
    const instance = slot.instance;
    if (!instance?.alive || slot.checking) return;
    const previousCheckAt = slot.lastHealthCheckAt;
    slot.lastHealthCheckAt = performance.now();
    const answered = await instance.probe(this.health.probeTimeoutMs);
    if (slot.instance !== instance || !instance.alive) return; // replaced or gone meanwhile
    if (answered) {
      instance.suspect = false;
      slot.failedHealthChecks = 0;
      return;
    }
    const log = { plugin: slot.spec.name, plugin_pid: instance.pid, err: instance.lastError };
    // Slow to answer the check, yet it answered a call since the last one:
    // busy (a loaded host, many calls at once), not hung. A stopped or stuck
    // plugin answers nothing.
    if (instance.lastAnsweredAt > previousCheckAt) {
      slot.failedHealthChecks = 0;
      this.logger.warn({ ...log, answering_calls: true }, "plugin health check failed, but the plugin is answering calls: kept");
      return;
    }
    slot.failedHealthChecks++;
    const limit = this.health.failuresToKill;
    this.logger.warn({ ...log, failures: slot.failedHealthChecks }, "plugin health check failed");
    if (slot.failedHealthChecks >= limit) {
      const { probeTimeoutMs, intervalMs } = this.health;
      this.replace(slot, instance, `did not answer a health check ${limit} times in a row (${probeTimeoutMs / 1000} s each, every ${intervalMs / 1000} s)`);
    }
  }

  /**
   * Stops instances nobody has used for `idleMs`; the next acquire starts them
   * again. A slot started with a request's environment (a step's credentials)
   * is then forgotten, values and all: credentials rotate with every job, so
   * keeping those slots would grow `plugins list` and hold old secrets for
   * the daemon's life. The next request with the same values starts afresh.
   */
  private async stopIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.slots.entries()].map(async ([id, slot]) => {
        const instance = slot.instance;
        if (!instance?.alive || instance.inFlight > 0 || now - instance.lastUsed < idleMs) return;
        this.logger.info({ plugin: slot.spec.name, key: slot.key.slice(0, 12), idle_s: Math.round((now - instance.lastUsed) / 1000) }, "stopping idle plugin");
        slot.state = "idle";
        await instance.stop();
        const untouched = slot.instance === instance && slot.pending === undefined && slot.state === "idle";
        if (untouched && slot.spec.environment !== undefined && this.slots.get(id) === slot) this.slots.delete(id);
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
