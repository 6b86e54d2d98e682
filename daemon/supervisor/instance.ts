// One running plugin process: spawned, handshaken, connected, health-checked,
// its stderr kept; typed clients for the services it serves; stopped with
// SIGTERM and, after a grace period, SIGKILL, sent to its process group (the
// plugin and everything it started); when it exits, what is left of its
// group is killed.
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import type * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { PluginInfoService, type GetInfoResponse } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import type { CallOptions, UnaryClient } from "../../proto/grpc.js";
import { ROOT_CONTEXT, SpanKind, extractTrace, injectTrace, meter, tracer } from "../../proto/telemetry.js";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import type { PluginSpec } from "./catalog.js";
import { checkHandshakeSocket, describeExit, makeSocketDir, parseHandshake, readHandshake, unreachable } from "../../proto/plugin-handshake.js";
import { type PluginGrpc, pluginGrpc } from "./grpc.js";
import { checkHealth } from "./health.js";
import { type LogEntry, PluginLog, quoteLines } from "./logs.js";
import { checkInfo, checkInstalled, verifyChecksum } from "./pins.js";
import { signalGroup, spawnPlugin } from "./spawn.js";

/** Errors that are not an answer from the plugin: the call got nothing back from it. */
const NO_ANSWER: ErrorCode[] = [ErrorCode.PLUGIN_UNAVAILABLE, ErrorCode.DEADLINE_EXCEEDED, ErrorCode.CANCELLED, ErrorCode.UNKNOWN];

const callDuration = () =>
  meter().createHistogram("wfctl.plugin.call.duration", { unit: "ms", description: "Latency of calls from the daemon to plugins" });

export type InstanceState = "starting" | "running" | "stopping" | "stopped" | "exited" | "failed";

/** Timing knobs of one instance; the zero value of each is its default. */
export interface InstanceOptions {
  /** How long the plugin has to print its handshake line (default 15 s). */
  handshakeTimeoutMs?: number;
  /** How long the first health check may take (default 5 s). */
  healthTimeoutMs?: number;
  /** How long SIGTERM has before SIGKILL (default 5 s). */
  stopGraceMs?: number;
}

export class PluginInstance {
  state: InstanceState = "starting";
  readonly startedAt = new Date();
  /** When it finished starting (handshake, health, info). */
  readyAt: Date | undefined;
  info: GetInfoResponse | undefined;
  address = "";
  lastError = "";
  /** The last health check passed (false until the first, and after a failed one). */
  healthy = false;
  /** Calls in flight through client(); an instance with calls in flight is never idle. */
  inFlight = 0;
  /**
   * A call to it ran out of time: it may be hung. The supervisor checks it
   * (a short health check) before handing it out again.
   */
  suspect = false;
  /** Last time a call started or finished (ms since epoch). */
  lastUsed = Date.now();
  /** When it last answered anything (a call's reply, a plugin-side error or a health check), performance.now(); -Infinity if never. */
  lastAnsweredAt = -Infinity;
  private readonly crashListeners: ((instance: PluginInstance) => void)[] = [];
  private readonly suspectListeners: ((instance: PluginInstance) => void)[] = [];
  private child: ChildProcess | undefined;
  private socketDir = "";
  private connection: grpc.Client | undefined;
  /** The boundary's gRPC code, loaded by start() before it connects. */
  private grpc: PluginGrpc | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly log: PluginLog;

  constructor(
    readonly spec: PluginSpec,
    /** Identifies the configuration this instance serves. */
    readonly key: string,
    private readonly logger: Logger,
    private readonly options: InstanceOptions = {},
  ) {
    this.log = new PluginLog(logger);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Describes the plugin in messages: `plugin "local" (pid 123)`. */
  get who(): string {
    return `plugin "${this.spec.name}"${this.pid ? ` (pid ${this.pid})` : ""}`;
  }

  recentLogs(n?: number): string[] {
    return this.log.recent(n);
  }

  recentLogEntries(n?: number): LogEntry[] {
    return this.log.recentEntries(n);
  }

  /** Every new log line of this instance, until the returned function is called. */
  onLog(listener: (entry: LogEntry) => void): () => void {
    return this.log.subscribe(listener);
  }

  get alive(): boolean {
    return this.state === "running";
  }

  /** Spawns, handshakes, connects and health-checks. */
  async start(): Promise<void> {
    try {
      await checkInstalled(this.spec, this.who);
      await verifyChecksum(this.spec, this.who);
    } catch (err) {
      this.state = "failed";
      this.lastError = WfctlError.from(err).code === ErrorCode.PLUGIN_CHECKSUM_MISMATCH ? "checksum mismatch" : WfctlError.from(err).message;
      throw err;
    }
    // Loaded (the first time) while the plugin process starts.
    const grpcLoaded = pluginGrpc();
    grpcLoaded.catch(() => {}); // awaited below, unless the spawn fails first
    this.socketDir = makeSocketDir();
    let child: ChildProcess;
    try {
      child = spawnPlugin(this.spec, this.socketDir);
    } catch (err) {
      // Refused before any process existed (say, a NUL byte in its environment).
      this.removeSocketDir();
      this.state = "failed";
      this.lastError = `could not be started: ${(err as Error).message}`;
      throw new WfctlError(ErrorCode.PLUGIN_HANDSHAKE_FAILED, `${this.who} (${this.spec.executable}) ${this.lastError}`);
    }
    this.child = child;
    this.log.bindPid(child.pid);
    this.exited = this.watch(child);
    if (child.stderr) this.log.follow(child.stderr, "stderr");
    try {
      const { line, rest } = await readHandshake(child, this.options.handshakeTimeoutMs ?? 15_000, (reason) =>
        new WfctlError(
          ErrorCode.PLUGIN_HANDSHAKE_FAILED,
          `${this.who} (${this.spec.executable}) ${reason}; its last stderr lines:\n${quoteLines(this.log.recent(20))}`,
        ),
      );
      const handshake = parseHandshake(line, this.who);
      for (const extra of rest.split("\n")) this.log.push(extra, "stdout");
      if (child.stdout) this.log.follow(child.stdout, "stdout");
      await checkHandshakeSocket(handshake, line, this.who);
      this.address = handshake.address;
      const bindings = (this.grpc = await grpcLoaded);
      this.connection = bindings.connect(`unix://${handshake.address}`);
      await checkHealth(this.connection, this.who, this.options.healthTimeoutMs ?? 5_000).catch((err: unknown) => {
        throw unreachable(err, line, this.who);
      });
      this.info = await bindings.callUnary(this.connection, PluginInfoService.method.getInfo, {}, { deadline: new Date(Date.now() + 5_000) });
      checkInfo(this.spec, this.info, this.who);
      this.state = "running";
      this.healthy = true;
      this.readyAt = new Date();
      this.logger.info({ plugin_pid: this.pid, version: this.info.version, services: this.info.services }, `${this.who} started`);
    } catch (err) {
      const error = await this.startFailure(err);
      this.lastError = error.message;
      this.state = "failed";
      await this.stop();
      this.state = "failed";
      throw error;
    }
  }

  /**
   * Why a start failed. A plugin that dies while starting breaks its
   * connection a moment before its exit is reported: give the exit a moment
   * to arrive, so the error says how it ended.
   */
  private async startFailure(err: unknown): Promise<WfctlError> {
    const error = WfctlError.from(err, ErrorCode.PLUGIN_HANDSHAKE_FAILED);
    if (this.state === "starting" && this.connection) await Promise.race([this.exited, new Promise((r) => setTimeout(r, 200).unref())]);
    if (this.state !== "exited" || error.message.includes(this.lastError)) return error;
    return error.rephrased(`${this.who} ${this.lastError} while starting (${error.message})`);
  }

  /**
   * Follows the process to its end: its 'error' events (a failed spawn or
   * kill) and those of every pipe to it are logged, never thrown; resolves
   * when it has exited (or could not be started).
   */
  private watch(child: ChildProcess): Promise<void> {
    for (const [fd, stream] of child.stdio.entries()) {
      stream?.on("error", (err: Error) => this.logger.warn({ fd, err: err.message }, `${this.who}: pipe error`));
    }
    return new Promise((resolve) => {
      child.on("error", (err) => {
        this.logger.warn({ err: err.message }, `${this.who}: process error`);
        // Only a spawn failure means there will be no 'exit'.
        if (child.pid === undefined) resolve();
      });
      child.once("exit", (code, signal) => {
        // Its group does not outlive it: whatever it started and left behind goes too.
        signalGroup(child, "SIGKILL");
        const crashed = this.state === "running";
        if (this.state === "running" || this.state === "starting") {
          this.lastError = `${describeExit(code, signal)} unexpectedly`;
          this.logger.warn({ code, signal, last_stderr: this.log.recent(5) }, `${this.who} ${this.lastError}`);
          this.state = "exited";
        } else if (this.state !== "failed") {
          this.state = "stopped";
        }
        this.healthy = false;
        this.connection?.close();
        this.removeSocketDir();
        resolve();
        if (crashed) for (const listener of this.crashListeners) listener(this);
      });
    });
  }

  private removeSocketDir(): void {
    if (this.socketDir === "") return;
    try {
      rmSync(this.socketDir, { recursive: true, force: true });
    } catch (err) {
      this.logger.warn({ dir: this.socketDir, err: (err as Error).message }, `${this.who}: cannot remove its socket directory`);
    }
  }

  /** Called once if this instance dies after it was running (not when stopped or killed on purpose). */
  onCrash(listener: (instance: PluginInstance) => void): void {
    this.crashListeners.push(listener);
  }

  /** How long it has been serving (0 if it never became ready). */
  get uptimeMs(): number {
    return this.readyAt ? Date.now() - this.readyAt.getTime() : 0;
  }

  /** Asks the plugin's health service; records and returns the answer. */
  async probe(timeoutMs: number): Promise<boolean> {
    if (!this.connection || !this.alive) return (this.healthy = false);
    try {
      await checkHealth(this.connection, this.who, timeoutMs);
      this.healthy = true;
      this.lastAnsweredAt = performance.now();
    } catch (err) {
      this.healthy = false;
      this.lastError = `health check failed: ${WfctlError.from(err).message}`;
    }
    return this.healthy;
  }

  /** Called each time a call to it runs out of time (it may be hung). */
  onSuspect(listener: (instance: PluginInstance) => void): void {
    this.suspectListeners.push(listener);
  }

  /**
   * Kills a hung plugin at once (SIGKILL ends a stopped process too); `reason`
   * becomes its last error, which calls still in flight report. Not a crash:
   * whoever kills it replaces it.
   */
  kill(reason: string): void {
    this.lastError = reason;
    this.state = "failed";
    this.healthy = false;
    if (this.child) signalGroup(this.child, "SIGKILL");
  }

  /** Does the plugin serve this optional capability? */
  serves(service: DescService): boolean {
    return this.info?.services.includes(service.typeName) ?? false;
  }

  /** A typed client whose errors name this plugin; a dead plugin is PLUGIN_UNAVAILABLE. */
  client<S extends DescService>(service: S): UnaryClient<S> {
    if (!this.connection || !this.grpc || !this.alive) {
      throw new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, `${this.who} is not running (${this.lastError || this.state})`);
    }
    const inner = this.grpc.unaryClient(service, this.connection) as Record<string, (req: unknown, opts?: unknown) => Promise<unknown>>;
    const wrapped: Record<string, (req: unknown, opts?: unknown) => Promise<unknown>> = {};
    for (const [name, fn] of Object.entries(inner)) {
      const method = `${service.typeName.split(".").pop()}/${name}`;
      wrapped[name] = async (req, opts) => {
        this.inFlight++;
        this.lastUsed = Date.now();
        const started = performance.now();
        const options = (opts ?? {}) as CallOptions;
        // Only a call that really went out can say the plugin did not answer.
        const sent = !(options.signal?.aborted ?? false) && (options.deadline?.getTime() ?? Infinity) > Date.now();
        const attributes = { "wfctl.plugin": this.spec.name, "rpc.method": method };
        const span = tracer().startSpan(`plugin ${this.spec.name} ${method}`, { kind: SpanKind.CLIENT, attributes }, extractTrace(options.metadata ?? {}));
        // The plugin's handler span becomes a child of this call's span.
        const metadata = injectTrace(trace.setSpan(ROOT_CONTEXT, span), { ...options.metadata });
        let outcome = "OK";
        try {
          const response = await fn(req, { ...options, metadata });
          this.lastAnsweredAt = performance.now();
          return response;
        } catch (err) {
          outcome = WfctlError.from(err).code;
          if (!NO_ANSWER.includes(WfctlError.from(err).code)) this.lastAnsweredAt = performance.now();
          span.setStatus({ code: SpanStatusCode.ERROR, message: WfctlError.from(err).message });
          // A dying plugin breaks its connection a moment before its exit is
          // reported: give the exit a moment to arrive, so the error says so.
          const transport: ErrorCode[] = [ErrorCode.PLUGIN_UNAVAILABLE, ErrorCode.UNKNOWN, ErrorCode.INTERNAL, ErrorCode.CANCELLED];
          const aborted = (opts as { signal?: AbortSignal } | undefined)?.signal?.aborted ?? false;
          if (this.alive && !aborted && transport.includes(WfctlError.from(err).code)) {
            await Promise.race([this.exited, new Promise((r) => setTimeout(r, 200).unref())]);
          }
          if (sent && WfctlError.from(err).code === ErrorCode.DEADLINE_EXCEEDED) this.suspected();
          throw this.explain(err, method.replace("/", "."));
        } finally {
          this.inFlight--;
          this.lastUsed = Date.now();
          span.setAttribute("wfctl.outcome", outcome);
          span.end();
          callDuration().record(performance.now() - started, { ...attributes, outcome });
        }
      };
    }
    return wrapped as UnaryClient<S>;
  }

  /** Marks it suspect and tells the supervisor, which checks it at once. */
  private suspected(): void {
    if (!this.alive) return;
    this.suspect = true;
    for (const listener of this.suspectListeners) listener(this);
  }

  /** The error of a failed call, naming the plugin and, for a deadline, saying it did not answer in time. */
  explain(err: unknown, method: string): WfctlError {
    const error = WfctlError.from(err);
    if (error.code === ErrorCode.PLUGIN_UNAVAILABLE || !this.alive) {
      const why = this.alive ? error.message : this.lastError || this.state;
      return new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, `${this.who}: ${method} failed: plugin unavailable (${why})`, { cause: err });
    }
    if (error.code === ErrorCode.DEADLINE_EXCEEDED) {
      // grpc-js appends its own diagnostics ("…after 2.993s,LB pick: 0.001s,remote_addr=…").
      const why = error.message.startsWith("Deadline exceeded") ? (error.message.split(",")[0] ?? error.message) : error.message;
      return error.rephrased(`${this.who} did not answer ${method} in time: ${why}`);
    }
    // The lock a LOCK_HELD names, and the problems of a refusal, go on with it: the host reads those, never the message.
    return error.rephrased(`${this.who}: ${error.message}`);
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.removeSocketDir();
      if (this.state !== "failed") this.state = "stopped";
      return;
    }
    if (this.state !== "failed") this.state = "stopping";
    // The whole process group: the plugin and whatever it started.
    signalGroup(child, "SIGTERM");
    const killer = setTimeout(() => {
      this.logger.warn(`${this.who} did not stop within ${this.options.stopGraceMs ?? 5_000} ms of SIGTERM; sending SIGKILL to its process group`);
      signalGroup(child, "SIGKILL");
    }, this.options.stopGraceMs ?? 5_000);
    await this.exited;
    clearTimeout(killer);
  }

  /** Waits for the process to exit (for tests and shutdown). */
  waitForExit(): Promise<void> {
    return this.exited;
  }
}
