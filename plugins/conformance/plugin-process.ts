// Starting a plugin executable for the conformance kits, the way wfctld
// starts it: the handshake environment, a private socket directory, a process
// group of its own, the parent-death pipe on fd 3, the handshake line, a
// health check and GetInfo. Then the provider it serves (for
// describeProviderConformance) or a state store over its IaCStateBackend
// service (for describeStateBackendConformance): the plugin is checked over
// gRPC, as wfctl will call it, whatever language it is written in.
//
// Not wfctld: no checksum, no lockfile, no restarts, and the plugin inherits
// the test's environment (never NODE_OPTIONS) where wfctld passes only what
// it declares (readsEnv) and what its configuration names.
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { NEVER_INHERITED } from "../../proto/env-patterns.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { PluginController, PluginInfoService } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import { type UnaryClient, callUnary, connect, unaryClient } from "../../proto/grpc.js";
import { type JsonObject, encodeJson } from "../../proto/json.js";
import {
  PLUGIN_SPAWN_OPTIONS,
  checkHandshakeSocket,
  handshakeEnvironment,
  makeSocketDir,
  parseHandshake,
  readHandshake,
  runsWithNode,
  unreachable,
} from "../../proto/plugin-handshake.js";
import type { ProviderUnderTest } from "./provider.js";
import { type ServedStateStore, servedStateStore } from "./served-store.js";

/** How to start the plugin: as a wfctl.yaml entry declares it. */
export interface PluginCommand {
  /** The executable, or a .js/.mjs/.cjs file run with this Node.js (as `source:` in wfctl.yaml); relative to `cwd`. */
  source: string;
  args?: readonly string[];
  /** Set for the plugin, over the environment it inherits from the test. */
  env?: Readonly<Record<string, string>>;
  /** Its working directory; default the test's. */
  cwd?: string;
  /** How long it has to print its handshake line (default 15 s, as wfctld). */
  handshakeTimeoutMs?: number;
}

/** What a state-backend plugin's Configure is given: the iac.state module's `backend`, its other settings, the namespace. */
export interface StateStoreOptions {
  backend: string;
  config?: JsonObject;
  namespace: string;
  /** What relative paths in `config` resolve against; default the test's working directory. */
  workingDir?: string;
}

/** Who the plugin says it is (its GetInfo answer). */
export interface PluginIdentity {
  name: string;
  version: string;
  /** The gRPC services it serves, by full name (`wfctl.plugin.v1.IaCProvider`). */
  services: string[];
  stateBackends: string[];
  readsEnv: string[];
}

/** What the plugin's last stderr lines are kept for: the errors of a failed start. */
const KEPT_LOG_LINES = 20;

/** A plugin process started by startPlugin; stop() it when done. */
export class PluginProcess {
  private readonly logs: string[] = [];
  private connection: grpc.Client | undefined;
  /** Its Configure was called (once per process, as wfctld does). */
  private configured = false;
  private readonly exited: Promise<void>;
  /** Who it says it is: set once it has started. */
  info: PluginIdentity = { name: "", version: "", services: [], stateBackends: [], readsEnv: [] };

  constructor(
    private readonly child: ChildProcess,
    private readonly socketDir: string,
    /** Names it in errors: `plugin dist/provider.js (pid 123)`. */
    readonly who: string,
  ) {
    // Its errors (a failed spawn, a broken pipe) surface as a failed handshake or call, never as a crash of the test.
    for (const stream of child.stdio) stream?.on("error", () => {});
    this.exited = new Promise((done) => {
      child.once("exit", () => done());
      child.on("error", () => {
        if (child.pid === undefined) done();
      });
    });
    let partial = "";
    child.stderr?.setEncoding("utf8").on("data", (text: string) => {
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      this.logs.push(...lines.map((line) => line.slice(0, 2_000)));
      this.logs.splice(0, Math.max(0, this.logs.length - KEPT_LOG_LINES));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once the process has exited (for whatever reason). */
  waitForExit(): Promise<void> {
    return this.exited;
  }

  /** Its last stderr lines (the SDK logs JSON lines there). */
  recentLogs(): string[] {
    return [...this.logs];
  }

  /** Reads the handshake, connects, checks health and asks GetInfo; stops the plugin if any of it fails. */
  async open(timeoutMs: number): Promise<void> {
    try {
      const { line } = await readHandshake(this.child, timeoutMs, (reason) =>
        new WfctlError(ErrorCode.PLUGIN_HANDSHAKE_FAILED, `${this.who} ${reason}; its last stderr lines:\n${this.logs.join("\n")}`),
      );
      this.child.stdout?.resume();
      const handshake = parseHandshake(line, this.who);
      await checkHandshakeSocket(handshake, line, this.who);
      this.connection = connect(`unix://${handshake.address}`);
      const deadline = () => ({ deadline: new Date(Date.now() + 5_000) });
      const health = await callUnary(this.connection, Health.method.check, { service: "" }, deadline()).catch((err: unknown) => {
        throw unreachable(err, line, this.who);
      });
      if (health.status !== ServingStatus.SERVING) throw new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, `${this.who}: health check says ${ServingStatus[health.status]}`);
      const { name, version, services, stateBackends, readsEnv } = await callUnary(this.connection, PluginInfoService.method.getInfo, {}, deadline());
      this.info = { name, version, services, stateBackends, readsEnv };
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Whether it serves `service` (an optional capability, such as IaCDriftDetector). */
  serves(service: DescService): boolean {
    return this.info.services.includes(service.typeName);
  }

  /** A typed client of one of its services. */
  client<S extends DescService>(service: S): UnaryClient<S> {
    if (!this.connection || this.child.exitCode !== null || this.child.signalCode !== null) {
      throw new WfctlError(ErrorCode.PLUGIN_UNAVAILABLE, `${this.who} is not running`);
    }
    return unaryClient(service, this.connection);
  }

  /**
   * The provider it serves, for describeProviderConformance's `connect`:
   * `config` is the iac.provider module's settings, `workingDir` what
   * relative paths resolve against. Its `close` stops the plugin.
   */
  provider(options: { config: JsonObject; workingDir: string }): ProviderUnderTest {
    if (!this.serves(IaCProvider)) throw new WfctlError(ErrorCode.PLUGIN_INCOMPATIBLE, `${this.who} does not serve ${IaCProvider.typeName} (it serves ${this.info.services.join(", ")})`);
    return {
      provider: this.client(IaCProvider),
      driftDetector: this.serves(IaCDriftDetector) ? this.client(IaCDriftDetector) : undefined,
      controller: this.client(PluginController),
      config: options.config,
      workingDir: options.workingDir,
      close: () => this.stop(),
    };
  }

  /**
   * Configures its state backend (`backend`, the iac.state module's
   * `config`, `namespace`) and gives the store over gRPC, as the daemon uses
   * it; the store's close() stops the plugin. Configure is called once per
   * process, as wfctld calls it (one process per backend configuration and
   * namespace): a second call is refused, and startStateStore starts a
   * fresh plugin for each store a check needs. The kit also reaches the
   * plugin's PluginController through it, to check the plugin's own handling
   * of cancellation and deadlines.
   */
  async stateStore(options: StateStoreOptions): Promise<ServedStateStore> {
    if (this.configured) {
      throw new WfctlError(
        ErrorCode.FAILED_PRECONDITION,
        `${this.who} is configured already: wfctld configures each plugin process once (one process per backend configuration and namespace), and so does the kit; start another plugin for another store (startStateStore)`,
      );
    }
    this.configured = true;
    await this.client(IaCStateBackendSetup).configure(
      { backend: options.backend, configJson: encodeJson(options.config ?? {}), namespace: options.namespace, workingDir: options.workingDir ?? process.cwd() },
      { deadline: new Date(Date.now() + 60_000) },
    );
    return servedStateStore({ backend: () => this.client(IaCStateBackend), controller: () => this.client(PluginController), close: () => this.stop() });
  }

  /** SIGTERM to its process group, SIGKILL after `graceMs` (default 5 s, as wfctld); resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    this.connection?.close();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      signalGroup(this.child, "SIGTERM");
      const killer = setTimeout(() => signalGroup(this.child, "SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(killer);
    }
    // Whatever it started and left behind goes too.
    signalGroup(this.child, "SIGKILL");
    rmSync(this.socketDir, { recursive: true, force: true });
  }
}

/** Signals the plugin's process group; the plugin alone when the group is gone. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

/**
 * Starts the plugin and completes its handshake: resolves once it is
 * healthy and has said who it is, or rejects saying why (with its last
 * stderr lines), leaving nothing running.
 */
export async function startPlugin(command: PluginCommand): Promise<PluginProcess> {
  const cwd = command.cwd ?? process.cwd();
  const path = resolve(cwd, command.source);
  const node = runsWithNode(path);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !NEVER_INHERITED.includes(key)) env[key] = value;
  const socketDir = makeSocketDir();
  // Spawned as wfctld spawns a plugin: its own process group, so that stop()
  // reaches what it started too, and the parent-death pipe on fd 3, so the
  // plugin never outlives the test.
  const child = spawn(node ? process.execPath : path, node ? [path, ...(command.args ?? [])] : [...(command.args ?? [])], {
    cwd,
    env: { ...env, ...command.env, ...handshakeEnvironment(socketDir) },
    ...PLUGIN_SPAWN_OPTIONS,
  });
  const plugin = new PluginProcess(child, socketDir, `plugin ${command.source}${child.pid ? ` (pid ${child.pid})` : ""}`);
  await plugin.open(command.handshakeTimeoutMs ?? 15_000);
  return plugin;
}

/**
 * A fresh state store served by a plugin process of its own: starts the
 * plugin, configures it once, and gives its store, whose close() stops the
 * plugin. What describeStateBackendConformance's `open` returns for a
 * plugin: each check gets a new process and store, as the daemon starts one
 * per configuration.
 */
export async function startStateStore(command: PluginCommand, options: StateStoreOptions): Promise<ServedStateStore> {
  const plugin = await startPlugin(command);
  try {
    return await plugin.stateStore(options);
  } catch (err) {
    await plugin.stop();
    throw err;
  }
}
