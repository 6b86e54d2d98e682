// The filesystem backend, wfctl's embedded default: one JSON file per resource
// under <directory>/<namespace>/resources/, written atomically (temp file,
// fsync, rename, fsync of the directory), and one lock file per lock under
// locks/, created exclusively and recording who holds it, for what, since when.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, open, readFile, readdir, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { isJsonObject } from "../../proto/json.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  lockHeldError,
  matchesFilter,
  throwIfAborted,
} from "../../proto/state-store.js";

/** Version of the on-disk record format; read refuses versions it does not know. */
export const FILESYSTEM_FORMAT = "wfctl.state.v1";

/** Refuses ids that could step outside the directory. */
function fileName(resourceId: string): string {
  if (resourceId === "" || resourceId === "." || resourceId === ".." || /[/\\\0]/.test(resourceId)) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `invalid resource id ${JSON.stringify(resourceId)}`);
  }
  return encodeURIComponent(resourceId);
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Writes `data` to `path` so that readers see the old file or the new one, never a mix. */
export async function writeFileAtomic(path: string, dir: string, data: string): Promise<void> {
  const temp = join(dir, `.${randomBytes(8).toString("hex")}.tmp`);
  const handle = await open(temp, "w", 0o600);
  try {
    await handle.writeFile(data, "utf8");
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDirectory(dir);
}

function encodeRecord(state: ResourceState): string {
  return `${JSON.stringify(
    {
      format: FILESYSTEM_FORMAT,
      resource_id: state.resourceId,
      resource_type: state.resourceType,
      provider: state.provider,
      status: state.status,
      provider_id: state.providerId,
      protected: state.protected,
      depends_on: state.dependsOn,
      created_at: state.createdAt,
      updated_at: state.updatedAt,
      error: state.error,
      config: state.config,
      outputs: state.outputs,
    },
    null,
    2,
  )}\n`;
}

function decodeRecord(text: string, path: string): ResourceState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(raw) || raw["format"] !== FILESYSTEM_FORMAT || typeof raw["resource_id"] !== "string") {
    throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path} is not a ${FILESYSTEM_FORMAT} record`);
  }
  const str = (key: string) => (typeof raw[key] === "string" ? (raw[key] as string) : "");
  const obj = (key: string) => {
    const value = raw[key];
    if (value === undefined) return {};
    if (!isJsonObject(value)) throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path}: "${key}" is not an object`);
    return value;
  };
  const deps = raw["depends_on"];
  return {
    resourceId: str("resource_id"),
    resourceType: str("resource_type"),
    provider: str("provider"),
    status: str("status"),
    providerId: str("provider_id"),
    protected: raw["protected"] === true,
    dependsOn: Array.isArray(deps) ? deps.filter((d): d is string => typeof d === "string") : [],
    createdAt: str("created_at"),
    updatedAt: str("updated_at"),
    error: str("error"),
    config: obj("config"),
    outputs: obj("outputs"),
  };
}

function decodeLock(text: string, resourceId: string, path: string): LockInfo {
  try {
    const raw = JSON.parse(text) as Partial<LockInfo>;
    return {
      lockId: String(raw.lockId ?? ""),
      resourceId,
      holder: String(raw.holder ?? "unknown"),
      operation: String(raw.operation ?? "unknown"),
      createdAt: String(raw.createdAt ?? "unknown time"),
      version: String(raw.version ?? "unknown"),
    };
  } catch {
    // A lock file left half-written by a crash still means "locked".
    return { lockId: "", resourceId, holder: `unknown holder (unreadable lock file ${path})`, operation: "unknown", createdAt: "unknown time", version: "unknown" };
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}

export class FilesystemStateStore implements StateStore {
  private readonly resources: string;
  private readonly locks: string;

  private constructor(readonly root: string) {
    this.resources = join(root, "resources");
    this.locks = join(root, "locks");
  }

  /** Opens (creating with owner-only permissions) the store under `root`; failure is STATE_BACKEND_UNAVAILABLE. */
  static async open(root: string): Promise<FilesystemStateStore> {
    const store = new FilesystemStateStore(root);
    try {
      await mkdir(store.resources, { recursive: true, mode: 0o700 });
      await mkdir(store.locks, { recursive: true, mode: 0o700 });
      // Prove the directory is writable now, not halfway through an apply.
      await writeFileAtomic(join(root, ".wfctl-state"), root, `${FILESYSTEM_FORMAT}\n`);
    } catch (err) {
      throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `cannot open filesystem state at ${root}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    throwIfAborted(ctx);
    const path = join(this.resources, `${fileName(resourceId)}.json`);
    try {
      return decodeRecord(await readFile(path, { encoding: "utf8", signal: ctx.signal }), path);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throwIfAborted(ctx);
      throw this.wrap(err, `read ${path}`);
    }
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    const path = join(this.resources, `${fileName(state.resourceId)}.json`);
    try {
      await writeFileAtomic(path, this.resources, encodeRecord(state));
    } catch (err) {
      throw this.wrap(err, `write ${path}`);
    }
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    checkFilter(filter);
    throwIfAborted(ctx);
    let names: string[];
    try {
      names = await readdir(this.resources);
    } catch (err) {
      if (isMissing(err)) return [];
      throw this.wrap(err, `list ${this.resources}`);
    }
    const out: ResourceState[] = [];
    for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
      throwIfAborted(ctx);
      const path = join(this.resources, name);
      let text: string;
      try {
        text = await readFile(path, { encoding: "utf8", signal: ctx.signal });
      } catch (err) {
        if (isMissing(err)) continue; // deleted since the listing
        throwIfAborted(ctx);
        throw this.wrap(err, `read ${path}`);
      }
      const state = decodeRecord(text, path);
      if (matchesFilter(state, filter)) out.push(state);
    }
    return out;
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    throwIfAborted(ctx);
    const path = join(this.resources, `${fileName(resourceId)}.json`);
    try {
      await unlink(path);
      await syncDirectory(this.resources);
    } catch (err) {
      if (!isMissing(err)) throw this.wrap(err, `delete ${path}`);
    }
  }

  async lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    throwIfAborted(ctx);
    const path = join(this.locks, `${fileName(resourceId)}.lock`);
    const lock: LockInfo = { ...request, lockId: randomUUID(), resourceId, createdAt: new Date().toISOString() };
    let handle;
    try {
      handle = await open(path, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        const text = await readFile(path, "utf8").catch(() => "");
        throw lockHeldError(decodeLock(text, resourceId, path));
      }
      throw this.wrap(err, `create lock ${path}`);
    }
    try {
      await handle.writeFile(`${JSON.stringify(lock, null, 2)}\n`, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    return lock;
  }

  async unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    throwIfAborted(ctx);
    const path = join(this.locks, `${fileName(resourceId)}.lock`);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if (isMissing(err)) throw new WfctlError(ErrorCode.NOT_FOUND, `no lock is held on "${resourceId}" (${path})`);
      throw this.wrap(err, `read lock ${path}`);
    }
    const held = decodeLock(text, resourceId, path);
    if (held.lockId !== lockId && !options?.force) {
      throw new WfctlError(ErrorCode.LOCK_HELD, `cannot unlock "${resourceId}" as ${lockId}: it is held by ${held.holder} as ${held.lockId || "(unknown id)"}`);
    }
    try {
      await unlink(path);
    } catch (err) {
      if (!isMissing(err)) throw this.wrap(err, `remove lock ${path}`);
    }
  }

  async close(): Promise<void> {}

  private wrap(err: unknown, what: string): WfctlError {
    if (err instanceof WfctlError) return err;
    return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `filesystem state: ${what}: ${(err as Error).message}`, { cause: err });
  }
}
