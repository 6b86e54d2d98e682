#!/usr/bin/env node
// jsfiles: a wfctl provider plugin written without the wfctl SDK, in plain
// JavaScript, from the contract in proto/ and docs/plugin-authoring.md alone.
// It manages files under a root directory: jsfiles.file (its content in
// plans and state) and jsfiles.secret_file (its content sensitive: masked,
// and sealed in state). `path` is force-new; drift is classified.
//
// What every plugin process does (the handshake, errors, deadlines and
// cancellation, health, info, shutdown) is in plugin-process.mjs; this file
// is step 4 of the walk-through in docs/plugin-authoring.md ("Without the
// SDK"): the IaCProvider and IaCDriftDetector services.
import { randomUUID } from "node:crypto";
import { chmod, lstat, mkdir, readFile, realpath, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from "node:path";
import { PluginError, configInvalid, loadContract, log, serve, unary } from "./plugin-process.mjs";

const contract = loadContract(["wfctl/plugin/v1/provider.proto"]);
/** Any failure that is not a PluginError: the provider failed doing the work. */
const call = (method, fn) => unary(method, fn, "PROVIDER_ERROR");

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
  GetSchema: call("GetSchema", async () => ({
    configFields: [{ name: "root", type: "FIELD_TYPE_STRING", description: "Directory every path is under, relative to the configuration's directory.", defaultJson: toJson(".") }],
    resourceTypes: Object.entries(TYPES).map(([type, t]) => ({ type, description: t.description, fields: fieldsOf(type) })),
  })),

  // Once per process: the host starts a process per provider configuration.
  Configure: call("Configure", async (request, { signal }) => {
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
  Plan: call("Plan", async (request) => {
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
  Apply: call("Apply", async (request, { signal }) => {
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

  Read: call("Read", async (request, { signal }) => {
    const where = checkType(request.resource);
    if (!request.prior) throw new PluginError("INVALID_ARGUMENT", `${where}: Read needs the prior state`);
    const found = await observe(request.prior, where, signal);
    if (!found) return { found: false };
    return { found: true, providerId: found.file, configJson: toJson(found.config), outputsJson: toJson(outputsOf(found.file, found.config.content)) };
  }),
};

const driftDetector = {
  DetectDrift: call("DetectDrift", async (request, { signal }) => {
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

serve(
  contract,
  { name: "jsfiles", version: "1.0.0", description: "Files under a root directory (an example written without the wfctl SDK)", readsEnv: [] },
  [
    ["wfctl.plugin.v1.IaCProvider", contract.v1.IaCProvider.service, provider],
    ["wfctl.plugin.v1.IaCDriftDetector", contract.v1.IaCDriftDetector.service, driftDetector],
  ],
);
