#!/usr/bin/env node
// jsondir: a wfctl state-backend plugin written without the wfctl SDK, in
// plain JavaScript, from the contract in proto/ and docs/plugin-authoring.md
// alone. It keeps each record as a JSON file in a directory (one directory
// per namespace), written atomically, and each lock as a file created
// atomically; every call honours its deadline and cancellation, and a held
// lock is reported as data (ErrorDetails.lock), never only as prose.
//
// What every plugin process does (the handshake, errors, deadlines and
// cancellation, health, info, shutdown) is in plugin-process.mjs; this file
// is step 4 of the walk-through in docs/plugin-authoring.md ("Without the
// SDK"): the IaCStateBackendSetup and IaCStateBackend services.
import { randomUUID } from "node:crypto";
import { link, mkdir, open, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PluginError, configInvalid, loadContract, log, serve, unary } from "./plugin-process.mjs";

const NAME = "jsondir";
const contract = loadContract(["wfctl/plugin/v1/state.proto"]);
/** Any failure that is not a PluginError: the store could not be used. Never swallowed. */
const call = (method, fn) => unary(method, fn, "STATE_BACKEND_UNAVAILABLE");

// <directory>/<namespace>/records/<id>.json holds one record,
// <directory>/<namespace>/locks/<id>.lock one lock (ids percent-encoded into
// file names).

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
  GetState: call("GetState", async (request, { signal }) => {
    const state = await readRecord(request.resourceId, signal);
    return state ? { found: true, state } : { found: false };
  }),

  // A full replace; safe to retry (the same bytes land again).
  SaveState: call("SaveState", async (request, { signal }) => {
    const state = request.state;
    if (!state?.resourceId) throw new PluginError("INVALID_ARGUMENT", "SaveState: state.resource_id is required");
    await writeAtomically(join(opened().records, `${fileName(state.resourceId)}.json`), toRecord(state), signal);
    return {};
  }),

  // A page at a time, in resource-id order; page_token is the last id sent.
  // Aborts on cancellation: never a partial page passed off as the end.
  ListStates: call("ListStates", async (request, { signal }) => {
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
  DeleteState: call("DeleteState", async (request, { signal }) => {
    signal.throwIfAborted();
    await rm(join(opened().records, `${fileName(request.resourceId)}.json`), { force: true });
    return {};
  }),

  // Fails at once with LOCK_HELD when held; never waits. The lock file is
  // written whole under a temporary name, then linked into place: link()
  // fails if the lock exists, so of racing lockers exactly one wins.
  Lock: call("Lock", async (request, { signal }) => {
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
  Unlock: call("Unlock", async (request, { signal }) => {
    const id = request.resourceId;
    const held = await readLock(id, signal);
    if (!held) throw new PluginError("NOT_FOUND", `Unlock: no lock is held on "${id}"`);
    if (!request.force && held.lockId !== request.lockId) throw lockHeld(held, `Unlock as ${request.lockId}`);
    signal.throwIfAborted();
    await rm(join(opened().locks, `${fileName(id)}.lock`), { force: true });
    return {};
  }),

  // Every lock held in the namespace, as its holder took it.
  ListLocks: call("ListLocks", async (_request, { signal }) => {
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
  Configure: call("Configure", async (request, { signal }) => {
    if (store) throw new PluginError("FAILED_PRECONDITION", "configured already: the host configures a plugin process once");
    if (request.backend !== NAME) throw new PluginError("INVALID_ARGUMENT", `this plugin serves backend "${NAME}", not "${request.backend}"`);
    let config;
    try {
      config = request.configJson.length > 0 ? JSON.parse(request.configJson.toString("utf8")) : {};
    } catch (err) {
      throw new PluginError("INVALID_ARGUMENT", `config_json is not JSON (${err.message})`);
    }
    for (const key of Object.keys(config)) if (key !== "directory") throw configInvalid("jsondir settings", key, "is unknown (known fields: directory)");
    if (typeof config.directory !== "string" || config.directory === "") throw configInvalid("jsondir settings", "directory", "must be a directory path (relative to the configuration's directory)");
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

serve(
  contract,
  {
    name: NAME,
    version: "1.0.0",
    description: "State as JSON files in a directory (an example written without the wfctl SDK)",
    stateBackends: [NAME], // its own name: configuration reaches it as `backend: jsondir`
    readsEnv: [],
  },
  [
    ["wfctl.plugin.v1.IaCStateBackendSetup", contract.v1.IaCStateBackendSetup.service, setup],
    ["wfctl.plugin.v1.IaCStateBackend", contract.v1.IaCStateBackend.service, backend],
  ],
);
