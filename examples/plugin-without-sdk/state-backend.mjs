#!/usr/bin/env node
// jsondir: a wfctl state-backend plugin written without the wfctl SDK, in
// plain JavaScript, from the contract in proto/ and docs/plugin-authoring.md
// alone. It keeps each record as a JSON file in a directory (one directory
// per namespace), written atomically, and each lock as a file created
// atomically; every call honours its deadline and cancellation, and a held
// lock is reported as data (ErrorDetails.lock), never only as prose.
//
// It uses only @grpc/grpc-js and @grpc/proto-loader, loading the .proto files
// at start. Sections 1-4 and 6-7 are the same plumbing as provider.mjs (each
// file reads alone); section 5 is the state store.
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { link, mkdir, open, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const NAME = "jsondir";
const VERSION = "1.0.0";

// ---------------------------------------------------------------------------
// 1. The contract, loaded from the .proto files (see provider.mjs for where an
// author outside this repository gets them).

const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
const definitions = protoLoader.loadSync(
  ["wfctl/plugin/v1/plugin.proto", "wfctl/plugin/v1/state.proto", "grpc/health/v1/health.proto"],
  { includeDirs: [PROTO_DIR], keepCase: false, enums: String, longs: Number, defaults: true, oneofs: true },
);
const proto = grpc.loadPackageDefinition(definitions);
const v1 = proto.wfctl.plugin.v1;
const health = proto.grpc.health.v1;

// ---------------------------------------------------------------------------
// 2. The handshake (proto/wfctl/plugin/v1/plugin.proto, header).

const MAGIC_COOKIE = "7c1f5e0a-wfctl-plugin-host-b2d84c19";
if (process.env.WFCTL_PLUGIN_MAGIC_COOKIE !== MAGIC_COOKIE) {
  process.stderr.write(`This program is the wfctl plugin "${NAME}": wfctld starts it (declare it in wfctl.yaml), not you.\n`);
  process.exit(1);
}
const offered = (process.env.WFCTL_PLUGIN_PROTOCOL_VERSIONS ?? "").split(",").map((v) => v.trim());
if (!offered.includes("1")) {
  process.stderr.write(`${NAME} speaks wfctl.plugin protocol 1; the host offers [${offered.join(", ")}]\n`);
  process.exit(1);
}
const SOCKET_DIR = process.env.WFCTL_PLUGIN_SOCKET_DIR ?? "";
if (!SOCKET_DIR) {
  process.stderr.write("WFCTL_PLUGIN_SOCKET_DIR is not set\n");
  process.exit(1);
}
const SOCKET = join(SOCKET_DIR, "plugin.sock");

for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {}); // EPIPE once the host is gone

function log(level, msg, fields = {}) {
  if (process.stderr.writable) process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), plugin: NAME, pid: process.pid, msg, ...fields })}\n`);
}

// ---------------------------------------------------------------------------
// 3. Errors: the gRPC status of the code, `wfctl-error-code`, and ErrorDetails
// (proto3 JSON, percent-encoded) in `wfctl-error-details`.

const STATUS_OF = {
  CONFIG_INVALID: grpc.status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  LOCK_HELD: grpc.status.ABORTED,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  STATE_BACKEND_UNAVAILABLE: grpc.status.UNAVAILABLE,
  STATE_CORRUPT: grpc.status.DATA_LOSS,
  CANCELLED: grpc.status.CANCELLED,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
};

class PluginError extends Error {
  constructor(code, message, details = undefined) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

function toStatus(error) {
  const metadata = new grpc.Metadata();
  metadata.set("wfctl-error-code", error.code);
  if (error.details) metadata.set("wfctl-error-details", encodeURIComponent(JSON.stringify(error.details)));
  return { code: STATUS_OF[error.code] ?? grpc.status.UNKNOWN, details: error.message, metadata };
}

function configInvalid(field, message) {
  return new PluginError("CONFIG_INVALID", `jsondir settings: field "${field}" ${message}`, { problems: [{ field, message }] });
}

// ---------------------------------------------------------------------------
// 4. The call context: an AbortSignal per call, aborted by its deadline, by
// the host cancelling it, or by PluginController.CancelOperation.

const operations = new Map();
const cancelledOperations = new Map();
const REMEMBERED_CANCELS = 200;

function callContext(call) {
  const controller = new AbortController();
  const abort = (code, message) => controller.signal.aborted || controller.abort(new PluginError(code, message));
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  let timer;
  if (Number.isFinite(at)) {
    const left = at - Date.now();
    if (left <= 0) abort("DEADLINE_EXCEEDED", "the call's deadline had passed when it arrived");
    else if (left < 2 ** 31) timer = setTimeout(() => abort("DEADLINE_EXCEEDED", "the call's deadline passed"), left);
  }
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

/** A unary handler; a store failure that is not one of ours is STATE_BACKEND_UNAVAILABLE (never swallowed). */
function unary(method, fn) {
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
          const error =
            err instanceof PluginError ? err : ctx.signal.aborted ? ctx.signal.reason : new PluginError("STATE_BACKEND_UNAVAILABLE", `jsondir: ${method}: ${err?.message ?? String(err)}`);
          log(error.code === "LOCK_HELD" || error.code === "NOT_FOUND" ? "info" : "warn", "call failed", { method, operation: ctx.operation, code: error.code, err: error.message });
          callback(toStatus(error));
        },
      )
      .finally(() => ctx.done());
  };
}

// ---------------------------------------------------------------------------
// 5. The state store. <directory>/<namespace>/records/<id>.json holds one
// record, <directory>/<namespace>/locks/<id>.lock one lock (ids
// percent-encoded into file names).

/** Set by Configure, once per process: the host starts one process per configuration and namespace. */
let store;

const fileName = (id) => encodeURIComponent(id).replace(/\./g, "%2E"); // never "." or ".."
const idOf = (name) => decodeURIComponent(name);

function opened() {
  if (!store) throw new PluginError("FAILED_PRECONDITION", "not configured: the host calls Configure first");
  return store;
}

/** Writes `text` to `path` so that a reader sees the old file or the new one, never a part: a synced temporary file renamed over it. */
async function writeAtomically(path, text, signal) {
  const temp = `${path}.${randomUUID()}.tmp`;
  try {
    await writeFile(temp, text, { flag: "wx", mode: 0o600, signal });
    const handle = await open(temp, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    signal.throwIfAborted(); // the last point where stopping leaves nothing written
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** IaCState as a record file holds it: the JSON fields kept as the exact text the host sent. */
function toRecord(state) {
  const { outputsJson, configJson, ...rest } = state;
  return JSON.stringify({ format: "jsondir/1", state: { ...rest, outputsJson: outputsJson.toString("utf8"), configJson: configJson.toString("utf8") } });
}

function fromRecord(text, file) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new PluginError("STATE_CORRUPT", `jsondir: ${file} is not a record (${err.message}); restore it from a backup or remove it`);
  }
  const state = parsed?.state;
  if (parsed?.format !== "jsondir/1" || typeof state?.resourceId !== "string") throw new PluginError("STATE_CORRUPT", `jsondir: ${file} is not a jsondir/1 record`);
  return { ...state, outputsJson: Buffer.from(state.outputsJson ?? "", "utf8"), configJson: Buffer.from(state.configJson ?? "", "utf8") };
}

async function readRecord(id, signal) {
  const file = join(opened().records, `${fileName(id)}.json`);
  let text;
  try {
    text = await readFile(file, { encoding: "utf8", signal });
  } catch (err) {
    if (err.code === "ENOENT") return undefined;
    throw err;
  }
  const state = fromRecord(text, file);
  if (state.resourceId !== id) throw new PluginError("STATE_CORRUPT", `jsondir: ${file} holds the record of "${state.resourceId}", not "${id}"`);
  return state;
}

const FILTER_KEYS = { resource_type: "resourceType", provider: "provider", status: "status" };
/** Records per page unless the host asks for fewer; and a page stops growing at 8 MiB (the host accepts 64 MiB). */
const PAGE_SIZE = 500;
const PAGE_BYTES = 8 * 1024 * 1024;

/** The lock on `id` as its holder took it; one whose file cannot be read is reported with an empty lock_id (only a forced unlock releases it). */
async function readLock(id, signal) {
  const file = join(opened().locks, `${fileName(id)}.lock`);
  let text;
  try {
    text = await readFile(file, { encoding: "utf8", signal });
  } catch (err) {
    if (err.code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const lock = JSON.parse(text);
    if (typeof lock.lockId === "string" && lock.lockId !== "") return lock;
  } catch {
    // reported below
  }
  return { lockId: "", resourceId: id, holder: `unknown (${file} cannot be read)`, operation: "", createdAt: "", version: "", host: "", pid: 0, daemonPid: 0 };
}

/** LOCK_HELD: who holds it in the message for people, and the whole LockInfo in ErrorDetails.lock for the host. */
function lockHeld(held, what) {
  const since = held.createdAt ? ` since ${held.createdAt}` : "";
  return new PluginError(
    "LOCK_HELD",
    `${what}: "${held.resourceId}" is locked by ${held.holder} for "${held.operation}"${since} (lock id ${held.lockId || "unknown"})`,
    { lock: held },
  );
}

const backend = {
  GetState: unary("GetState", async (request, { signal }) => {
    const state = await readRecord(request.resourceId, signal);
    return state ? { found: true, state } : { found: false };
  }),

  // A full replace; safe to retry (the same bytes land again).
  SaveState: unary("SaveState", async (request, { signal }) => {
    const state = request.state;
    if (!state?.resourceId) throw new PluginError("INVALID_ARGUMENT", "SaveState: state.resource_id is required");
    await writeAtomically(join(opened().records, `${fileName(state.resourceId)}.json`), toRecord(state), signal);
    return {};
  }),

  // A page at a time, in resource-id order; page_token is the last id sent.
  // Aborts on cancellation: never a partial page passed off as the end.
  ListStates: unary("ListStates", async (request, { signal }) => {
    const filter = Object.entries(request.filter ?? {});
    for (const [key] of filter) if (!FILTER_KEYS[key]) throw new PluginError("INVALID_ARGUMENT", `ListStates: unknown filter key "${key}" (known: ${Object.keys(FILTER_KEYS).join(", ")})`);
    const after = request.pageToken ? Buffer.from(request.pageToken, "base64url").toString("utf8") : undefined;
    const limit = request.pageSize > 0 ? Math.min(request.pageSize, PAGE_SIZE) : PAGE_SIZE;
    const ids = (await readdir(opened().records))
      .filter((name) => name.endsWith(".json"))
      .map((name) => idOf(name.slice(0, -".json".length)))
      .filter((id) => after === undefined || id > after)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const states = [];
    let bytes = 0;
    let last;
    for (const id of ids) {
      signal.throwIfAborted();
      if (states.length >= limit || (states.length > 0 && bytes >= PAGE_BYTES)) break;
      last = id;
      const state = await readRecord(id, signal);
      if (!state || !filter.every(([key, value]) => state[FILTER_KEYS[key]] === value)) continue;
      states.push(state);
      bytes += state.outputsJson.length + state.configJson.length;
    }
    const more = last !== undefined && last !== ids.at(-1);
    return { states, nextPageToken: more ? Buffer.from(last, "utf8").toString("base64url") : "" };
  }),

  // Removing a missing record is not an error.
  DeleteState: unary("DeleteState", async (request, { signal }) => {
    signal.throwIfAborted();
    await rm(join(opened().records, `${fileName(request.resourceId)}.json`), { force: true });
    return {};
  }),

  // Fails at once with LOCK_HELD when held; never waits. The lock file is
  // written whole under a temporary name, then linked into place: link()
  // fails if the lock exists, so of racing lockers exactly one wins.
  Lock: unary("Lock", async (request, { signal }) => {
    const id = request.resourceId;
    const info = request.info ?? {};
    const lock = {
      lockId: randomUUID(),
      resourceId: id,
      holder: info.holder ?? "",
      operation: info.operation ?? "",
      createdAt: new Date().toISOString(),
      version: info.version ?? "",
      host: info.host ?? "",
      pid: info.pid ?? 0,
      daemonPid: info.daemonPid ?? 0,
    };
    const file = join(opened().locks, `${fileName(id)}.lock`);
    const temp = `${file}.${lock.lockId}.tmp`;
    await writeFile(temp, JSON.stringify(lock), { flag: "wx", mode: 0o600, signal });
    try {
      signal.throwIfAborted();
      await link(temp, file);
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      throw lockHeld((await readLock(id, signal)) ?? { ...lock, lockId: "", holder: "another holder (released meanwhile: try again)" }, "Lock");
    } finally {
      await rm(temp, { force: true });
    }
    return { lock };
  }),

  // Releases the lock taken as lock_id, or, with force, whatever lock is
  // held. No lock held is NOT_FOUND; another holder's lock is LOCK_HELD.
  Unlock: unary("Unlock", async (request, { signal }) => {
    const id = request.resourceId;
    const held = await readLock(id, signal);
    if (!held) throw new PluginError("NOT_FOUND", `Unlock: no lock is held on "${id}"`);
    if (!request.force && held.lockId !== request.lockId) throw lockHeld(held, `Unlock as ${request.lockId}`);
    signal.throwIfAborted();
    await rm(join(opened().locks, `${fileName(id)}.lock`), { force: true });
    return {};
  }),

  // Every lock held in the namespace, as its holder took it.
  ListLocks: unary("ListLocks", async (_request, { signal }) => {
    const names = (await readdir(opened().locks)).filter((name) => name.endsWith(".lock"));
    const locks = [];
    for (const name of names.sort()) {
      signal.throwIfAborted();
      const lock = await readLock(idOf(name.slice(0, -".lock".length)), signal);
      if (lock) locks.push(lock);
    }
    return { locks };
  }),
};

const setup = {
  // Once per process. No schema fills defaults for a state backend: the
  // settings are checked here, each problem naming its field.
  Configure: unary("Configure", async (request, { signal }) => {
    if (store) throw new PluginError("FAILED_PRECONDITION", "configured already: the host configures a plugin process once");
    if (request.backend !== NAME) throw new PluginError("INVALID_ARGUMENT", `this plugin serves backend "${NAME}", not "${request.backend}"`);
    let config;
    try {
      config = request.configJson.length > 0 ? JSON.parse(request.configJson.toString("utf8")) : {};
    } catch (err) {
      throw new PluginError("INVALID_ARGUMENT", `config_json is not JSON (${err.message})`);
    }
    for (const key of Object.keys(config)) if (key !== "directory") throw configInvalid(key, "is unknown (known fields: directory)");
    if (typeof config.directory !== "string" || config.directory === "") throw configInvalid("directory", "must be a directory path (relative to the configuration's directory)");
    if (!request.namespace) throw new PluginError("INVALID_ARGUMENT", "namespace is required");
    const dir = join(resolve(request.workingDir || process.cwd(), config.directory), fileName(request.namespace));
    const records = join(dir, "records");
    const locks = join(dir, "locks");
    await mkdir(records, { recursive: true, mode: 0o700 });
    await mkdir(locks, { recursive: true, mode: 0o700 });
    signal.throwIfAborted();
    store = { dir, records, locks };
    log("info", "configured", { dir });
    return {};
  }),
};

// ---------------------------------------------------------------------------
// 6. The services every plugin serves: health, info, controller.

const SERVICES = ["wfctl.plugin.v1.IaCStateBackend", "wfctl.plugin.v1.IaCStateBackendSetup"];
let serving = "SERVING";
const watchers = new Set();

const healthService = {
  Check: (call, callback) => {
    const known = call.request.service === "" || SERVICES.includes(call.request.service);
    if (!known) callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
    else callback(null, { status: serving });
  },
  Watch: (call) => {
    call.write({ status: serving });
    watchers.add(call);
    call.on("cancelled", () => watchers.delete(call));
  },
};

const info = {
  GetInfo: (_call, callback) =>
    callback(null, {
      name: NAME,
      version: VERSION,
      protocolVersion: 1,
      services: SERVICES,
      stateBackends: [NAME], // its own name: configuration reaches it as `backend: jsondir`
      description: "State as JSON files in a directory (an example written without the wfctl SDK)",
      sdk: "none: @grpc/grpc-js and @grpc/proto-loader",
      readsEnv: [],
    }),
};

const controller = {
  Shutdown: (_call, callback) => {
    callback(null, {});
    setImmediate(() => stop("the host asked (Shutdown)"));
  },
  CancelOperation: (call, callback) => {
    const { operationId, reason, message } = call.request;
    if (!operationId) return callback(toStatus(new PluginError("INVALID_ARGUMENT", "operation_id is required")));
    const why = reason === "CANCEL_REASON_DEADLINE_EXCEEDED" ? ["DEADLINE_EXCEEDED", `operation deadline: ${message}`] : ["CANCELLED", `operation cancelled: ${message}`];
    cancelledOperations.set(operationId, why);
    for (const old of [...cancelledOperations.keys()].slice(0, -REMEMBERED_CANCELS)) cancelledOperations.delete(old);
    const calls = [...(operations.get(operationId) ?? [])];
    for (const abort of calls) abort(...why);
    log("info", "operation cancelled by the host", { operation: operationId, calls: calls.length });
    callback(null, { calls: calls.length });
  },
};

// ---------------------------------------------------------------------------
// 7. Start-up and shutdown.

const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.max_send_message_length": 64 * 1024 * 1024 });
server.addService(health.Health.service, healthService);
server.addService(v1.PluginInfoService.service, info);
server.addService(v1.PluginController.service, controller);
server.addService(v1.IaCStateBackendSetup.service, setup);
server.addService(v1.IaCStateBackend.service, backend);

let stopping = false;
function stop(why, { removeSocketDir = false } = {}) {
  if (stopping) return;
  stopping = true;
  log("info", "shutting down", { why });
  serving = "NOT_SERVING";
  for (const watcher of watchers) watcher.end();
  const exit = () => {
    rmSync(SOCKET, { force: true });
    if (removeSocketDir) rmSync(SOCKET_DIR, { recursive: true, force: true });
    process.exit(0);
  };
  setTimeout(() => {
    server.forceShutdown();
    exit();
  }, 4_000).unref();
  server.tryShutdown(exit);
}

process.once("SIGTERM", () => stop("SIGTERM"));
process.once("SIGINT", () => stop("SIGINT"));

const parentFd = Number.parseInt(process.env.WFCTL_PLUGIN_PARENT_FD ?? "", 10);
if (Number.isInteger(parentFd) && parentFd > 2) {
  const pipe = new Socket({ fd: parentFd, readable: true, writable: false });
  const gone = () => stop("the host is gone", { removeSocketDir: true });
  pipe.on("data", () => {});
  pipe.once("end", gone);
  pipe.once("close", gone);
  pipe.once("error", gone);
  pipe.unref();
}

rmSync(SOCKET, { force: true });
server.bindAsync(`unix://${SOCKET}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    log("error", "cannot listen", { socket: SOCKET, err: err.message });
    process.exit(1);
  }
  log("info", "serving", { socket: SOCKET, services: SERVICES });
  process.stdout.write(`1|1|unix|${SOCKET}|grpc\n`);
});
