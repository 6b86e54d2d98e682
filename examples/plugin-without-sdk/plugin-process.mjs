// What every wfctl plugin process does, whatever it serves, written from the
// contract in proto/ (plugin.proto and errors.proto, their headers) with
// @grpc/grpc-js and @grpc/proto-loader only: loading the .proto files, the
// handshake, errors as trailers, each call's deadline and cancellation, the
// health, info and controller services, and stopping. provider.mjs and
// state-backend.mjs import it and add their capability services. The
// sections follow docs/plugin-authoring.md, "Without the SDK", steps 1-3 and 5-9.
import { rmSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

// ---------------------------------------------------------------------------
// Step 1. The contract, loaded from the .proto files at start. In this
// repository they are in ../../proto; an author elsewhere copies proto/wfctl/
// and proto/grpc/ (from a wfctl checkout, or node_modules/wfctl/proto after
// `npm install --save-dev wfctl`) into the plugin's tree and points PROTO_DIR there.

const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));

/**
 * The wfctl.plugin.v1 package and grpc.health.v1, with `files` (the
 * capability's .proto, such as "wfctl/plugin/v1/provider.proto") loaded too.
 * Fields are camelCase, enums their names ("ACTION_NOOP"), an absent field
 * its default and an absent message null, bytes Buffers.
 */
export function loadContract(files) {
  const definitions = protoLoader.loadSync(["wfctl/plugin/v1/plugin.proto", "grpc/health/v1/health.proto", ...files], {
    includeDirs: [PROTO_DIR],
    keepCase: false,
    enums: String,
    longs: Number,
    defaults: true,
    oneofs: true,
  });
  const proto = grpc.loadPackageDefinition(definitions);
  return { v1: proto.wfctl.plugin.v1, health: proto.grpc.health.v1 };
}

// ---------------------------------------------------------------------------
// Step 5. Errors: the gRPC status the wfctl code travels as, the code in the
// `wfctl-error-code` trailer, and the ErrorDetails message as proto3 JSON,
// percent-encoded, in `wfctl-error-details`. (The whole table of codes is in
// errors.proto and docs/plugin-authoring.md, "Errors".)

const STATUS_OF = {
  CONFIG_INVALID: grpc.status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  LOCK_HELD: grpc.status.ABORTED,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  PROVIDER_ERROR: grpc.status.UNKNOWN,
  STATE_BACKEND_UNAVAILABLE: grpc.status.UNAVAILABLE,
  STATE_CORRUPT: grpc.status.DATA_LOSS,
  CANCELLED: grpc.status.CANCELLED,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
};

/** An error with a wfctl code and, optionally, ErrorDetails ({ problems: [{ field, message }] }, { lock: LockInfo }). */
export class PluginError extends Error {
  constructor(code, message, details = undefined) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/** CONFIG_INVALID about one field: the field in ErrorDetails.problems, for the host to point at. */
export function configInvalid(where, field, message) {
  return new PluginError("CONFIG_INVALID", `${where}: field "${field}" ${message}`, { problems: [{ field, message }] });
}

/** A failure as grpc-js sends it: status, message for people, and the two trailers for the host. */
function toStatus(error) {
  const metadata = new grpc.Metadata();
  metadata.set("wfctl-error-code", error.code);
  if (error.details) metadata.set("wfctl-error-details", encodeURIComponent(JSON.stringify(error.details)));
  return { code: STATUS_OF[error.code] ?? grpc.status.UNKNOWN, details: error.message, metadata };
}

// ---------------------------------------------------------------------------
// Steps 6 and 7. Each call's AbortSignal aborts when its deadline passes, when
// the host cancels it, or when the host cancels its operation
// (PluginController.CancelOperation, by the `wfctl-operation-id` metadata).

/** The aborts of the calls in flight, per operation id; and the operations already cancelled (a late call of one stops at once). */
const operations = new Map();
const cancelledOperations = new Map();
const REMEMBERED_CANCELS = 200;

function callContext(call) {
  const controller = new AbortController();
  const abort = (code, message) => controller.signal.aborted || controller.abort(new PluginError(code, message));
  const deadline = call.getDeadline(); // a Date, or Infinity
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  let timer;
  if (Number.isFinite(at)) {
    const left = at - Date.now();
    if (left <= 0) abort("DEADLINE_EXCEEDED", "the call's deadline had passed when it arrived");
    else if (left < 2 ** 31) timer = setTimeout(() => abort("DEADLINE_EXCEEDED", "the call's deadline passed"), left);
  }
  // grpc-js says 'cancelled' when the host cancels the call, and when its deadline passes.
  call.on("cancelled", () => (Date.now() >= at ? abort("DEADLINE_EXCEEDED", "the call's deadline passed") : abort("CANCELLED", "the host cancelled the call")));
  const operation = String(call.metadata.get("wfctl-operation-id")[0] ?? "");
  if (operation) {
    if (cancelledOperations.has(operation)) abort(...cancelledOperations.get(operation));
    if (!operations.has(operation)) operations.set(operation, new Set());
    operations.get(operation).add(abort);
  }
  return {
    signal: controller.signal,
    operation,
    done() {
      clearTimeout(timer);
      operations.get(operation)?.delete(abort);
      if (operations.get(operation)?.size === 0) operations.delete(operation);
    },
  };
}

/**
 * A grpc-js unary handler from `fn(request, { signal, operation })`. Every
 * call gets an answer: the result, or the error. A handler stopped by its
 * signal answers why (CANCELLED, DEADLINE_EXCEEDED); any other failure that
 * is not a PluginError is `fallback` (PROVIDER_ERROR, STATE_BACKEND_UNAVAILABLE).
 */
export function unary(method, fn, fallback) {
  return (call, callback) => {
    const ctx = callContext(call);
    Promise.resolve()
      .then(() => {
        ctx.signal.throwIfAborted();
        return fn(call.request, ctx);
      })
      .then(
        (response) => callback(null, response),
        (err) => {
          const error = err instanceof PluginError ? err : ctx.signal.aborted ? ctx.signal.reason : new PluginError(fallback, `${method}: ${err?.message ?? String(err)}`);
          log(["LOCK_HELD", "NOT_FOUND"].includes(error.code) ? "info" : "warn", "call failed", { method, operation: ctx.operation, code: error.code, err: error.message });
          callback(toStatus(error));
        },
      )
      .finally(() => ctx.done());
  };
}

// ---------------------------------------------------------------------------
// Step 9. The log: JSON lines on stderr, which the host keeps and copies into
// its own log. Never a request body or a secret.

let pluginName = "";
export function log(level, msg, fields = {}) {
  if (process.stderr.writable) process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), plugin: pluginName, pid: process.pid, msg, ...fields })}\n`);
}

// ---------------------------------------------------------------------------
// Steps 2, 3, 8 and 9: the handshake, the services every plugin serves,
// message sizes, and stopping.

/** Reads the handshake variables; refuses (exit 1, saying why on stderr) a start that is not wfctld's. */
function handshake(name) {
  if (process.env.WFCTL_PLUGIN_MAGIC_COOKIE !== "7c1f5e0a-wfctl-plugin-host-b2d84c19") {
    process.stderr.write(`This program is the wfctl plugin "${name}": wfctld starts it (declare it in wfctl.yaml), not you.\n`);
    process.exit(1);
  }
  const offered = (process.env.WFCTL_PLUGIN_PROTOCOL_VERSIONS ?? "").split(",").map((v) => v.trim());
  if (!offered.includes("1")) {
    process.stderr.write(`${name} speaks wfctl.plugin protocol 1; the host offers [${offered.join(", ")}]\n`);
    process.exit(1);
  }
  const socketDir = process.env.WFCTL_PLUGIN_SOCKET_DIR ?? "";
  if (!socketDir) {
    process.stderr.write("WFCTL_PLUGIN_SOCKET_DIR is not set\n");
    process.exit(1);
  }
  return { socketDir, socket: join(socketDir, "plugin.sock"), parentFd: Number.parseInt(process.env.WFCTL_PLUGIN_PARENT_FD ?? "", 10) };
}

/** Health (SERVING until the plugin stops), PluginInfoService and PluginController: what every plugin serves. */
function addCommonServices(server, contract, info, services, lifecycle) {
  server.addService(contract.health.Health.service, {
    Check: (call, callback) => {
      if (call.request.service !== "" && !services.includes(call.request.service)) callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
      else callback(null, { status: lifecycle.serving });
    },
    Watch: (call) => {
      call.write({ status: lifecycle.serving });
      lifecycle.watchers.add(call);
      call.on("cancelled", () => lifecycle.watchers.delete(call));
    },
  });
  server.addService(contract.v1.PluginInfoService.service, {
    GetInfo: (_call, callback) =>
      callback(null, { stateBackends: [], readsEnv: [], ...info, protocolVersion: 1, services, sdk: "none: @grpc/grpc-js and @grpc/proto-loader" }),
  });
  server.addService(contract.v1.PluginController.service, {
    Shutdown: (_call, callback) => {
      callback(null, {});
      setImmediate(() => lifecycle.stop("the host asked (Shutdown)"));
    },
    // Aborts the operation's calls (and any that arrives later); each still answers.
    CancelOperation: (call, callback) => {
      const { operationId, reason, message } = call.request;
      if (!operationId) return callback(toStatus(new PluginError("INVALID_ARGUMENT", "operation_id is required")));
      const why = reason === "CANCEL_REASON_DEADLINE_EXCEEDED" ? ["DEADLINE_EXCEEDED", `operation deadline: ${message}`] : ["CANCELLED", `operation cancelled: ${message}`];
      cancelledOperations.set(operationId, why);
      for (const old of [...cancelledOperations.keys()].slice(0, -REMEMBERED_CANCELS)) cancelledOperations.delete(old);
      const calls = [...(operations.get(operationId) ?? [])];
      for (const abort of calls) abort(...why);
      log("info", "operation cancelled by the host; its calls stop and still answer", { operation: operationId, calls: calls.length });
      callback(null, { calls: calls.length });
    },
  });
}

/**
 * How the plugin stops: it reports NOT_SERVING, stops taking calls, lets
 * those in flight finish (4 s at most: the host sends SIGKILL 5 s after
 * SIGTERM), removes its socket (and, when the host is gone, the socket
 * directory the host can no longer remove), and exits.
 */
function lifecycleOf(server, host) {
  const lifecycle = { serving: "SERVING", watchers: new Set(), stopping: false };
  lifecycle.stop = (why, { removeSocketDir = false } = {}) => {
    if (lifecycle.stopping) return;
    lifecycle.stopping = true;
    log("info", "shutting down", { why });
    lifecycle.serving = "NOT_SERVING";
    for (const watcher of lifecycle.watchers) watcher.end();
    const exit = () => {
      rmSync(host.socket, { force: true });
      if (removeSocketDir) rmSync(host.socketDir, { recursive: true, force: true });
      process.exit(0);
    };
    setTimeout(() => {
      server.forceShutdown();
      exit();
    }, 4_000).unref();
    server.tryShutdown(exit);
  };
  return lifecycle;
}

/** Stops when the host is gone: it never writes to this pipe, so end-of-file means it died, however it died. */
function watchHost(parentFd, lifecycle) {
  if (!Number.isInteger(parentFd) || parentFd <= 2) return;
  const pipe = new Socket({ fd: parentFd, readable: true, writable: false });
  const gone = () => lifecycle.stop("the host is gone", { removeSocketDir: true });
  pipe.on("data", () => {});
  pipe.once("end", gone);
  pipe.once("close", gone);
  pipe.once("error", gone);
  pipe.unref();
}

/**
 * Serves `capabilities` ([[typeName, service definition, implementation]])
 * beside health, PluginInfoService and PluginController, on the socket the
 * host asked for, and prints the handshake line once it listens. `info` is
 * what GetInfo answers: name (the one wfctl.yaml gives the plugin), version,
 * description, stateBackends, readsEnv.
 */
export function serve(contract, info, capabilities) {
  pluginName = info.name;
  const host = handshake(info.name);
  // Once the host is gone, writing to stdout or stderr fails with EPIPE (thrown, unless someone listens).
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
  const services = capabilities.map(([typeName]) => typeName);
  // The host sends and accepts up to 64 MiB; grpc-js accepts 4 MiB unless told.
  const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.max_send_message_length": 64 * 1024 * 1024 });
  const lifecycle = lifecycleOf(server, host);
  addCommonServices(server, contract, info, services, lifecycle);
  for (const [, definition, implementation] of capabilities) server.addService(definition, implementation);
  process.once("SIGTERM", () => lifecycle.stop("SIGTERM"));
  process.once("SIGINT", () => lifecycle.stop("SIGINT"));
  watchHost(host.parentFd, lifecycle);

  rmSync(host.socket, { force: true });
  server.bindAsync(`unix://${host.socket}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      log("error", "cannot listen", { socket: host.socket, err: err.message });
      process.exit(1);
    }
    log("info", "serving", { socket: host.socket, services });
    // The one stdout line, once the socket listens: CORE-VERSION|APP-VERSION|unix|SOCKET-PATH|grpc.
    process.stdout.write(`1|1|unix|${host.socket}|grpc\n`);
  });
}
