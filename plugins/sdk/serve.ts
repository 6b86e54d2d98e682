// serve(): the one call a plugin's main file makes. It performs the handshake,
// serves health, info, shutdown and the plugin's capability services on a Unix
// socket, turns each call's deadline and cancellation into an AbortSignal,
// logs JSON lines to stderr, and exits cleanly on SIGTERM.
import { rmSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { envPatternProblems, normalizeEnvPatterns } from "../../proto/env-patterns.js";
import { ErrorCode, WfctlError, abortError } from "../../proto/errors.js";
import { PluginController, PluginInfoService } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCBatchProvider, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import { GRPC_CHANNEL_OPTIONS, type ServerCallContext, serviceDefinition, unaryImplementation } from "../../proto/grpc.js";
import { SpanKind, extractTrace, inSpan, initTelemetry } from "../../proto/telemetry.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { OperationCancellations, cancelReason } from "./cancellation.js";
import { type CallContext, type CallRunner, callContext } from "./context.js";
import { HandshakeRefusal, handshakeLine, readHostEnvironment } from "./handshake.js";
import { HealthStatus, ServingStatus } from "./health.js";
import { type PluginLogger, createPluginLogger } from "./logger.js";
import { type ProviderDefinition, ProviderServer } from "./provider.js";
import { batchHandlers } from "./batch.js";
import { type StateBackendDefinition, StateBackendServer } from "./state-backend.js";

export interface ServeOptions<C> {
  /** The plugin's name as configuration refers to it (e.g. "local"). */
  name: string;
  /** The plugin's release version (semver). */
  version: string;
  description?: string;
  /** Serve an IaC provider. */
  provider?: ProviderDefinition<C>;
  /** Serve a state backend. */
  stateBackend?: StateBackendDefinition;
  /** How long in-flight calls may take to finish after SIGTERM (ms, default 5000). */
  shutdownGraceMs?: number;
  /**
   * The host environment variables the plugin reads: names ("PGHOST") and
   * prefixes ("AWS_*"). The host passes only these (beside a minimal base,
   * the plugin's `env:` from wfctl.yaml and the variables its configuration
   * names in `*_env` fields); absent means none. Reported by GetInfo, pinned
   * by `wfctl plugins lock`: changing it needs a new lock.
   */
  readsEnv?: readonly string[];
}

/** A running plugin server (returned for tests; plugins just await serve()). */
export interface PluginServer {
  socketPath: string;
  log: PluginLogger;
  /** Stops serving: health goes NOT_SERVING, in-flight calls get the grace period. */
  shutdown(): Promise<void>;
}

function callRunner(name: string, log: PluginLogger, cancellations: OperationCancellations): CallRunner {
  return async <T>(server: ServerCallContext, fn: (ctx: CallContext) => Promise<T>): Promise<T> => {
    const method = server.method.split("/").slice(-2).join("/").replace(/^wfctl\.plugin\.v1\./, "");
    // The handler's span: a child of the daemon's call span (its traceparent).
    return inSpan(`${name} ${method}`, { parent: extractTrace(server.metadata), kind: SpanKind.SERVER, attributes: { "rpc.method": method } }, async (_span, trace) => {
      // Aborted when the call is cancelled, its deadline passes, or the host cancels its operation.
      const operation = cancellations.join(server.metadata["wfctl-operation-id"] ?? "");
      const signal = AbortSignal.any([server.signal, operation.signal]);
      const ctx = callContext({ ...server, signal }, log, trace);
      const started = performance.now();
      try {
        const result = await fn(ctx);
        ctx.log.debug({ ms: Math.round(performance.now() - started) }, "call finished");
        return result;
      } catch (err) {
        // A handler that gave up because it was told to stop says so, whatever it threw.
        const error = signal.aborted && !(err instanceof WfctlError) ? abortError(signal) : WfctlError.from(err, ErrorCode.PROVIDER_ERROR);
        ctx.log.warn({ ms: Math.round(performance.now() - started), code: error.code, err: error.message }, "call failed");
        throw error;
      } finally {
        operation.release();
      }
    });
  };
}

/**
 * Calls `onGone` once the host process is gone: the descriptor it passed is
 * the plugin's end of a pipe the host never writes to, so end-of-file (or an
 * error) on it means the host has exited, however it died.
 */
function watchParent(fd: number, log: PluginLogger, onGone: () => void): void {
  let pipe: Socket;
  try {
    pipe = new Socket({ fd, readable: true, writable: false });
  } catch (err) {
    log.warn({ fd, err: (err as Error).message }, "cannot watch the host process; this plugin will not notice if it dies");
    return;
  }
  let gone = false;
  const done = (why: string) => {
    if (gone) return;
    gone = true;
    log.warn({ why }, "host process is gone; shutting down");
    onGone();
  };
  pipe.on("data", () => {}); // the host never writes; reading keeps EOF observable
  pipe.once("end", () => done("end of file on the host pipe"));
  pipe.once("close", () => done("host pipe closed"));
  pipe.once("error", (err) => done(`host pipe error: ${err.message}`));
  pipe.unref();
}

/** The host's handshake environment; a plugin started by hand (or by an incompatible host) says why and exits 1. */
function hostOrExit(name: string): ReturnType<typeof readHostEnvironment> {
  try {
    return readHostEnvironment(process.env, name);
  } catch (err) {
    if (err instanceof HandshakeRefusal) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** What a plugin serves, for closing it at shutdown. */
interface Capabilities<C> {
  services: string[];
  provider: ProviderServer<C> | undefined;
  backend: StateBackendServer | undefined;
}

/** Registers the capability services the options ask for; their names, and the provider and state backend served. */
function addCapabilities<C>(server: grpc.Server, health: HealthStatus, options: ServeOptions<C>, call: CallRunner): Capabilities<C> {
  const services: string[] = [];
  const add = (typeName: string, definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => {
    server.addService(definition, implementation);
    services.push(typeName);
    health.set(typeName, ServingStatus.SERVING);
  };
  let backend: StateBackendServer | undefined;
  let provider: ProviderServer<C> | undefined;
  if (options.provider) {
    provider = new ProviderServer(options.provider);
    const single = provider.providerHandlers(call);
    add(IaCProvider.typeName, serviceDefinition(IaCProvider), unaryImplementation(IaCProvider, single));
    const drift = options.provider.classifiesDrift || Object.values(options.provider.resources).some((r) => r.detectDrift) ? provider.driftHandlers(call) : undefined;
    // Many reads, plans and drift detections in one round trip, each through its single handler.
    add(IaCBatchProvider.typeName, serviceDefinition(IaCBatchProvider), unaryImplementation(IaCBatchProvider, batchHandlers(single, options.provider.batchParallelism, drift)));
    if (drift) add(IaCDriftDetector.typeName, serviceDefinition(IaCDriftDetector), unaryImplementation(IaCDriftDetector, drift));
  }
  if (options.stateBackend) {
    backend = new StateBackendServer(options.stateBackend);
    add(IaCStateBackendSetup.typeName, serviceDefinition(IaCStateBackendSetup), unaryImplementation(IaCStateBackendSetup, backend.setupHandlers(call)));
    add(IaCStateBackend.typeName, serviceDefinition(IaCStateBackend), unaryImplementation(IaCStateBackend, backend.handlers(call)));
  }
  return { services, provider, backend };
}

/**
 * Stopping: health goes NOT_SERVING, in-flight calls get the grace period,
 * the provider's close() runs and the backend closes, the socket goes.
 * `shutdown` resolves when done; `stopThenExit` then exits (0, or 1 saying
 * why on the log).
 */
function stopper<C>(
  server: grpc.Server,
  health: HealthStatus,
  parts: { capabilities: Capabilities<C>; socketPath: string; graceMs: number; log: PluginLogger; telemetry: { shutdown(ms?: number): Promise<void> } },
) {
  const { capabilities, socketPath, graceMs, log, telemetry } = parts;
  const { provider, backend } = capabilities;
  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      log.info("shutting down");
      health.shutdown();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await provider?.close(log);
      await backend?.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, "closing the state backend failed"));
      rmSync(socketPath, { force: true });
      await telemetry.shutdown(1_000);
    })();
    return stopping;
  };
  const stopThenExit = (after?: () => void): void => {
    shutdown().then(
      () => {
        after?.();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: (err as Error).message }, "shutting down failed");
        process.exit(1);
      },
    );
  };
  return { shutdown, stopThenExit };
}

/** PluginInfoService (who this plugin is) and PluginController (stop; stop an operation's calls). */
function addControl<C>(
  server: grpc.Server,
  options: ServeOptions<C>,
  about: { protocolVersion: number; services: string[] },
  control: { stopThenExit: () => void; cancellations: OperationCancellations; log: PluginLogger },
): void {
  server.addService(serviceDefinition(PluginInfoService), unaryImplementation(PluginInfoService, {
    getInfo: async () => ({
      name: options.name,
      version: options.version,
      protocolVersion: about.protocolVersion,
      services: about.services,
      stateBackends: [...(options.stateBackend?.backends ?? [])],
      description: options.description ?? "",
      sdk: `wfctl-plugin-sdk-ts ${WFCTL_VERSION}`,
      readsEnv: normalizeEnvPatterns(options.readsEnv ?? []),
    }),
  }));
  server.addService(serviceDefinition(PluginController), unaryImplementation(PluginController, {
    shutdown: async () => {
      setImmediate(() => control.stopThenExit());
      return {};
    },
    cancelOperation: async (request) => {
      if (!request.operationId) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, "operation_id is required");
      const calls = control.cancellations.cancel(request.operationId, cancelReason(request.reason, request.message));
      control.log.info({ operation: request.operationId, calls, why: request.message }, "operation cancelled by the host; its calls stop and still answer");
      return { calls };
    },
  }));
}

/**
 * Starts the plugin. Resolves once serving; the process then lives until the
 * host stops it. Exits with status 1 (and says why on stderr) when started
 * by hand or by an incompatible host.
 */
export async function serve<C>(options: ServeOptions<C>): Promise<PluginServer> {
  const log = createPluginLogger(options.name, options.version);
  const host = hostOrExit(options.name);
  // Once the host is gone, writing to stdout or stderr fails with EPIPE, which
  // Node.js throws unless someone listens: the plugin would die mid-shutdown.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
  if (!options.provider && !options.stateBackend) throw new Error("serve() needs a provider or a stateBackend");
  const badEnv = envPatternProblems(options.readsEnv ?? []);
  if (badEnv.length > 0) throw new Error(`serve(): readsEnv: ${badEnv.join("; ")}`);

  const telemetry = await initTelemetry(`wfctl-plugin-${options.name}`);
  const server = new grpc.Server(GRPC_CHANNEL_OPTIONS);
  const cancellations = new OperationCancellations();
  const health = new HealthStatus();
  health.register(server);
  const capabilities = addCapabilities(server, health, options, callRunner(options.name, log, cancellations));
  const socketPath = join(host.socketDir, "plugin.sock");
  const { shutdown, stopThenExit } = stopper(server, health, { capabilities, socketPath, graceMs: options.shutdownGraceMs ?? 5000, log, telemetry });
  addControl(server, options, { protocolVersion: host.protocolVersion, services: capabilities.services }, { stopThenExit: () => stopThenExit(), cancellations, log });
  health.set("", ServingStatus.SERVING);

  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => stopThenExit());
  }
  if (host.parentFd !== undefined) {
    watchParent(host.parentFd, log, () =>
      stopThenExit(() => {
        // The host that made this directory is gone and will not remove it.
        rmSync(host.socketDir, { recursive: true, force: true });
      }),
    );
  }
  log.info({ socket: socketPath, protocol: host.protocolVersion, services: capabilities.services }, "serving");
  process.stdout.write(handshakeLine(host.protocolVersion, socketPath));
  return { socketPath, log, shutdown };
}
