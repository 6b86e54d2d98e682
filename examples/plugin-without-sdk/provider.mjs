#!/usr/bin/env node
// jsfiles: a wfctl provider plugin written without the wfctl SDK, in plain
// JavaScript, from the contract in proto/ and docs/plugin-authoring.md alone.
// It manages files under a root directory: jsfiles.file (its content in
// plans and state) and jsfiles.secret_file (its content sensitive: masked,
// and sealed in state). `path` is force-new; drift is classified.
//
// It uses only @grpc/grpc-js and @grpc/proto-loader, loading the .proto files
// at start (no generated code). The file reads top to bottom as the walk-through
// in docs/plugin-authoring.md ("Without the SDK"): protos, handshake, the
// services every plugin serves, errors, call context (deadline, cancellation,
// metadata), then the provider itself, then start-up and shutdown.
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { chmod, lstat, mkdir, readFile, realpath, rename, rm, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const NAME = "jsfiles";
const VERSION = "1.0.0";

// ---------------------------------------------------------------------------
// 1. The contract, loaded from the .proto files. In this repository they are
// in ../../proto; an author elsewhere copies proto/wfctl/ and proto/grpc/ from
// the wfctl package (node_modules/wfctl/proto after `npm install wfctl`, or a
// wfctl checkout) into the plugin's own tree and points PROTO_DIR at the copy.

const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
const definitions = protoLoader.loadSync(
  ["wfctl/plugin/v1/plugin.proto", "wfctl/plugin/v1/provider.proto", "grpc/health/v1/health.proto"],
  // camelCase field names; enums as their names ("ACTION_NOOP"); absent fields
  // filled with their defaults (an absent message field is null).
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

// stdout carries the handshake line, stderr the log. Once the host is gone,
// writing to either fails with EPIPE: ignore it (the host pipe, below, ends
// the process).
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

/** One JSON line on stderr: the host keeps each plugin's last lines and copies them into its log. Never a request body. */
function log(level, msg, fields = {}) {
  if (process.stderr.writable) process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), plugin: NAME, pid: process.pid, msg, ...fields })}\n`);
}

// ---------------------------------------------------------------------------
// 3. Errors (proto/wfctl/plugin/v1/errors.proto, header): a gRPC status from
// the table, the wfctl code in the `wfctl-error-code` trailer, and the
// ErrorDetails message as proto3 JSON, percent-encoded, in `wfctl-error-details`.

/** The gRPC status of each wfctl code this plugin uses (the full table is in errors.proto). */
const STATUS_OF = {
  CONFIG_INVALID: grpc.status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  PROVIDER_ERROR: grpc.status.UNKNOWN,
  CANCELLED: grpc.status.CANCELLED,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
};

/** An error with a wfctl code and, optionally, ErrorDetails ({ problems: [{ field, message }] }). */
class PluginError extends Error {
  constructor(code, message, details = undefined) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

/** A failure as grpc-js sends it: status, message, and the two trailers. */
function toStatus(error) {
  const metadata = new grpc.Metadata();
  metadata.set("wfctl-error-code", error.code);
  if (error.details) metadata.set("wfctl-error-details", encodeURIComponent(JSON.stringify(error.details)));
  return { code: STATUS_OF[error.code] ?? grpc.status.UNKNOWN, details: error.message, metadata };
}

/** CONFIG_INVALID about one field, its place in ErrorDetails.problems. */
function configInvalid(where, field, message) {
  return new PluginError("CONFIG_INVALID", `${where}: field "${field}" ${message}`, { problems: [{ field, message }] });
}

// ---------------------------------------------------------------------------
// 4. The call context: every call gets an AbortSignal that aborts when its
// deadline passes, when the host cancels it, or when the host cancels its
// operation (PluginController.CancelOperation, by `wfctl-operation-id`).

/** Calls in flight per operation id, and the operations already cancelled (a late call of one stops at once). */
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
  // grpc-js says 'cancelled' when the host cancels the call and when its deadline passes.
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
 * A unary handler from an async function of (request, ctx). Every call gets
 * an answer: its result, or its error. A handler that stopped because its
 * signal aborted answers with why (CANCELLED or DEADLINE_EXCEEDED).
 */
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
          const error = err instanceof PluginError ? err : ctx.signal.aborted ? ctx.signal.reason : new PluginError("PROVIDER_ERROR", err?.message ?? String(err));
          log("warn", "call failed", { method, operation: ctx.operation, code: error.code, err: error.message });
          callback(toStatus(error));
        },
      )
      .finally(() => ctx.done());
  };
}

// ---------------------------------------------------------------------------
// 5. The provider: schema, Configure, Plan, Apply, Read, DetectDrift.

/** JSON equality with object keys in any order: how a plugin compares values (a seal is just another value). */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  return JSON.stringify(value ?? null);
}
const same = (a, b) => canonical(a) === canonical(b);
const toJson = (value) => (value === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(value)));
const fromJson = (bytes, what) => {
  if (!bytes || bytes.length === 0) return {};
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new PluginError("INVALID_ARGUMENT", `${what}: not JSON (${err.message})`);
  }
};

/** The settable fields of both types; `content` is sensitive in jsfiles.secret_file. */
const TYPES = {
  "jsfiles.file": { sensitive: false, mode: "0644", description: "A file under the provider root; its content shows in plans and state." },
  "jsfiles.secret_file": { sensitive: true, mode: "0600", description: "A file whose content is secret: masked in plans, sealed in state." },
};
const SETTABLE = ["path", "content", "mode"];

function fieldsOf(type) {
  const { sensitive, mode } = TYPES[type];
  const field = (name, more) => ({ name, type: "FIELD_TYPE_STRING", description: "", required: false, computed: false, sensitive: false, forceNew: false, defaultJson: Buffer.alloc(0), ...more });
  return [
    field("path", { required: true, forceNew: true, description: "Path under the provider root; changing it replaces the file." }),
    field("content", { sensitive, defaultJson: toJson(""), description: "The file's content (UTF-8)." }),
    field("mode", { defaultJson: toJson(mode), description: "Octal permissions, such as 0644." }),
    field("absolute_path", { computed: true, description: "Where the file is." }),
    field("size", { type: "FIELD_TYPE_NUMBER", computed: true, description: "Size in bytes." }),
  ];
}

/** Set by Configure, once per process: the root every path is under. */
let root;

function checkType(resource) {
  if (!resource || !TYPES[resource.type]) throw new PluginError("INVALID_ARGUMENT", `unknown resource type "${resource?.type}" (this provider manages ${Object.keys(TYPES).join(", ")})`);
  if (!root) throw new PluginError("FAILED_PRECONDITION", "not configured: the host calls Configure first");
  return `${resource.name} (${resource.type})`;
}

/** The file `path` names, checked by its text: relative, and under the root. */
function pathUnderRoot(path, where) {
  if (typeof path !== "string" || path === "") throw configInvalid(where, "path", "must be a non-empty relative path");
  if (isAbsolute(path) || normalize(path).split(sep).includes("..")) throw configInvalid(where, "path", `must stay under the provider root, got "${path}"`);
  return join(root.path, normalize(path));
}

/** The directory a file goes in, made if missing, and checked again on disk: a symlink may not lead it out of the root. */
async function containedParent(file, where, create) {
  const parent = dirname(file);
  if (create) await mkdir(parent, { recursive: true, mode: 0o755 });
  let real;
  try {
    real = await realpath(parent);
  } catch (err) {
    if (err.code === "ENOENT") return undefined;
    throw err;
  }
  if (real !== root.real && !real.startsWith(root.real + sep)) throw new PluginError("PERMISSION_DENIED", `${where}: ${parent} leads out of the provider root through a symbolic link`);
  return real;
}

function checkConfig(config, where) {
  for (const key of Object.keys(config)) if (!SETTABLE.includes(key)) throw configInvalid(where, key, `is unknown (known fields: ${SETTABLE.join(", ")})`);
  if (typeof config.content !== "string") throw configInvalid(where, "content", "must be a string");
  if (typeof config.mode !== "string" || !/^0?[0-7]{3}$/.test(config.mode)) throw configInvalid(where, "mode", `must be octal permissions such as "0644", got ${JSON.stringify(config.mode)}`);
  return pathUnderRoot(config.path, where);
}

/** Writes the file atomically: a temporary file beside it, renamed over it once whole (rename replaces a symlink, never follows it). */
async function writeFileAtomically(file, config, where, signal) {
  const parent = await containedParent(file, where, true);
  const target = join(parent, basename(file));
  const temp = join(parent, `.${randomUUID()}.jsfiles.tmp`);
  const mode = Number.parseInt(config.mode, 8);
  try {
    await writeFile(temp, config.content, { mode, flag: "wx", signal });
    await chmod(temp, mode); // the umask may have taken bits away
    signal.throwIfAborted(); // the last point where stopping leaves nothing changed
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return { providerId: file, outputsJson: toJson(outputsOf(file, config.content)), appliedConfigJson: toJson(config) };
}

function outputsOf(file, content) {
  return { absolute_path: file, size: Buffer.byteLength(content) };
}

/** What exists at the prior's file now, in the configuration's shape; undefined when it is gone. */
async function observe(prior, where, signal) {
  const config = fromJson(prior.configJson, `${where}: prior config_json`);
  // An empty provider_id is a create whose outcome the host never learned: look it up by its configuration.
  const file = prior.providerId || pathUnderRoot(config.path, where);
  const parent = await containedParent(file, where, false);
  if (parent === undefined) return undefined;
  let info;
  try {
    info = await lstat(file);
  } catch (err) {
    if (err.code === "ENOENT") return undefined;
    throw err;
  }
  if (!info.isFile()) return undefined;
  const content = await readFile(file, { encoding: "utf8", signal });
  const mode = `0${(info.mode & 0o777).toString(8).padStart(3, "0")}`;
  return { file, prior: config, config: { path: config.path, content, mode } };
}

const provider = {
  GetSchema: unary("GetSchema", async () => ({
    configFields: [{ name: "root", type: "FIELD_TYPE_STRING", description: "Directory every path is under, relative to the configuration's directory.", defaultJson: toJson(".") }],
    resourceTypes: Object.entries(TYPES).map(([type, t]) => ({ type, description: t.description, fields: fieldsOf(type) })),
  })),

  // Once per process: the host starts a process per provider configuration.
  Configure: unary("Configure", async (request, { signal }) => {
    if (root) throw new PluginError("FAILED_PRECONDITION", "configured already: the host configures a plugin process once");
    const config = fromJson(request.configJson, "provider config_json");
    for (const key of Object.keys(config)) if (key !== "root") throw configInvalid("provider configuration", key, "is unknown (known fields: root)");
    if (typeof config.root !== "string" || config.root === "") throw configInvalid("provider configuration", "root", "must be a directory path");
    const path = resolve(request.workingDir || process.cwd(), config.root);
    await mkdir(path, { recursive: true });
    signal.throwIfAborted();
    root = { path, real: await realpath(path) };
    log("info", "configured", { root: path });
    return {};
  }),

  // Compares desired with prior field by field, plainly: a sensitive value
  // the prior holds sealed differs here, and the host drops that change when
  // the seal matches (provider.proto, PriorState).
  Plan: unary("Plan", async (request) => {
    const where = checkType(request.resource);
    const desired = fromJson(request.desiredConfigJson, `${where}: desired_config_json`);
    const file = checkConfig(desired, where);
    await containedParent(file, where, false); // a symlink out of the root is refused before anything is written
    const prior = request.prior ? fromJson(request.prior.configJson, `${where}: prior config_json`) : undefined;
    const changes = SETTABLE.filter((f) => !prior || !same(prior[f], desired[f])).map((field) => ({
      field,
      beforeJson: toJson(prior?.[field]),
      afterJson: toJson(desired[field]),
      forcesReplace: prior !== undefined && field === "path",
      sensitive: field === "content" && TYPES[request.resource.type].sensitive,
    }));
    const action = !prior ? "ACTION_CREATE" : changes.length === 0 ? "ACTION_NOOP" : changes.some((c) => c.forcesReplace) ? "ACTION_REPLACE" : "ACTION_UPDATE";
    return { action, changes };
  }),

  // Answers every call: the result once the file is in place, else why not.
  Apply: unary("Apply", async (request, { signal }) => {
    const where = checkType(request.resource);
    if (request.action === "ACTION_DELETE") {
      const prior = fromJson(request.prior?.configJson, `${where}: prior config_json`);
      const file = request.prior?.providerId || pathUnderRoot(prior.path, where);
      signal.throwIfAborted();
      // Deleting what is already gone is not an error.
      if ((await containedParent(file, where, false)) !== undefined) await rm(file, { force: true });
      return {};
    }
    if (request.action !== "ACTION_CREATE" && request.action !== "ACTION_UPDATE") throw new PluginError("INVALID_ARGUMENT", `${where}: Apply takes CREATE, UPDATE or DELETE, not ${request.action}`);
    const desired = fromJson(request.desiredConfigJson, `${where}: desired_config_json`);
    return writeFileAtomically(checkConfig(desired, where), desired, where, signal);
  }),

  Read: unary("Read", async (request, { signal }) => {
    const where = checkType(request.resource);
    if (!request.prior) throw new PluginError("INVALID_ARGUMENT", `${where}: Read needs the prior state`);
    const found = await observe(request.prior, where, signal);
    if (!found) return { found: false };
    return { found: true, providerId: found.file, configJson: toJson(found.config), outputsJson: toJson(outputsOf(found.file, found.config.content)) };
  }),
};

const driftDetector = {
  DetectDrift: unary("DetectDrift", async (request, { signal }) => {
    const where = checkType(request.resource);
    if (!request.prior) throw new PluginError("INVALID_ARGUMENT", `${where}: DetectDrift needs the prior state`);
    const found = await observe(request.prior, where, signal);
    if (!found) return { result: { class: "DRIFT_CLASS_GHOST", drifted: true, fields: [] } };
    const fields = SETTABLE.filter((f) => !same(found.prior[f], found.config[f])).map((field) => ({
      field,
      expectedJson: toJson(found.prior[field]),
      actualJson: toJson(found.config[field]),
    }));
    return { result: { class: fields.length > 0 ? "DRIFT_CLASS_CONFIG" : "DRIFT_CLASS_IN_SYNC", drifted: fields.length > 0, fields } };
  }),
};

// ---------------------------------------------------------------------------
// 6. The services every plugin serves: health, info, controller.

const SERVICES = ["wfctl.plugin.v1.IaCProvider", "wfctl.plugin.v1.IaCDriftDetector"];
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
      name: NAME, // must be the name wfctl.yaml gives it
      version: VERSION,
      protocolVersion: 1,
      services: SERVICES,
      stateBackends: [],
      description: "Files under a root directory (an example written without the wfctl SDK)",
      sdk: "none: @grpc/grpc-js and @grpc/proto-loader",
      readsEnv: [], // it reads no host variable beyond the handshake's
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
    log("info", "operation cancelled by the host; its calls stop and still answer", { operation: operationId, calls: calls.length });
    callback(null, { calls: calls.length });
  },
};

// ---------------------------------------------------------------------------
// 7. Start-up and shutdown.

// The host sends and accepts up to 64 MiB; grpc-js accepts 4 MiB unless told.
const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024, "grpc.max_send_message_length": 64 * 1024 * 1024 });
server.addService(health.Health.service, healthService);
server.addService(v1.PluginInfoService.service, info);
server.addService(v1.PluginController.service, controller);
server.addService(v1.IaCProvider.service, provider);
server.addService(v1.IaCDriftDetector.service, driftDetector);

let stopping = false;
/** Stops taking calls, lets those in flight finish (5 s at most: the host sends SIGKILL then), removes the socket, exits. */
function stop(why, { removeSocketDir = false } = {}) {
  if (stopping) return;
  stopping = true;
  log("info", "shutting down", { why });
  serving = "NOT_SERVING";
  for (const watcher of watchers) watcher.end();
  const exit = () => {
    rmSync(SOCKET, { force: true });
    // The host removes the socket directory once this process has exited; a host that is gone cannot.
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

// The host's end of this pipe is never written: end-of-file means the host is gone, however it died.
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
  // The one stdout line, once the socket listens: CORE-VERSION|APP-VERSION|unix|SOCKET-PATH|grpc.
  process.stdout.write(`1|1|unix|${SOCKET}|grpc\n`);
});
