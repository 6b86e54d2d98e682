// The filesystem backend, wfctl's embedded default: one JSON file per resource
// under <directory>/<namespace>/resources/, named after its resource id and
// written atomically (temp file, fsync, rename, fsync of the directory), and
// one lock file per lock under locks/, recording who holds it, for what,
// since when (filesystem-locks.ts).
import { readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { mapBounded } from "../../proto/bounded.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { isJsonObject } from "../../proto/json.js";
import {
  type LockInfo,
  type LockRequest,
  type ResourceState,
  type StateStore,
  type StoreContext,
  checkFilter,
  matchesFilter,
  throwIfAborted,
} from "../../proto/state-store.js";
import { isMissing, makeDirectories, readText, syncDirectory, writeFileAtomic } from "./atomic-files.js";
import { LockFiles } from "./filesystem-locks.js";
import { warmRecordWriter, writeRecordFile } from "./record-writer.js";

/** Version of the on-disk record format; read refuses versions it does not know. */
export const FILESYSTEM_FORMAT = "wfctl.state.v1";
/** Record files listStates reads at once. */
const LIST_PARALLELISM = 32;

/** Refuses ids that could step outside the directory. */
function fileName(resourceId: string): string {
  if (resourceId === "" || resourceId === "." || resourceId === ".." || /[/\\\0]/.test(resourceId)) {
    throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `invalid resource id ${JSON.stringify(resourceId)}`);
  }
  return encodeURIComponent(resourceId);
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

/** The resource id a record file is named after, or undefined when its name is not one wfctl writes. */
function resourceIdOfFile(name: string): string | undefined {
  if (!name.endsWith(".json")) return undefined;
  try {
    return decodeURIComponent(name.slice(0, -".json".length));
  } catch {
    return undefined;
  }
}

/** The record in the file at `path`, which must be the record of `resourceId` (the id its name encodes). */
function decodeRecord(text: string, path: string, resourceId: string | undefined): ResourceState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(raw) || raw["format"] !== FILESYSTEM_FORMAT || typeof raw["resource_id"] !== "string") {
    throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path} is not a ${FILESYSTEM_FORMAT} record`);
  }
  // A record under another resource's name would be taken for that resource
  // (and the one it names listed twice): refused, never guessed at.
  if (resourceId === undefined) throw new WfctlError(ErrorCode.STATE_CORRUPT, `state file ${path}: its name is not that of a record (<percent-encoded resource id>.json)`);
  if (raw["resource_id"] !== resourceId) {
    throw new WfctlError(
      ErrorCode.STATE_CORRUPT,
      `state file ${path} holds the record of "${raw["resource_id"]}", not of "${resourceId}" (the resource its name is for); ` +
        `nothing was changed. Put the record of "${resourceId}" back (from a backup), or remove the file if "${resourceId}" does not exist (the next plan then creates it)`,
      { details: [{ file: path, field: "resource_id", message: `holds the record of "${raw["resource_id"]}", not "${resourceId}"` }] },
    );
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

export class FilesystemStateStore implements StateStore {
  private readonly resources: string;
  private readonly locks: string;
  private readonly lockFiles: LockFiles;

  private constructor(readonly root: string) {
    this.resources = join(root, "resources");
    this.locks = join(root, "locks");
    this.lockFiles = new LockFiles(this.locks, (err, what) => this.wrap(err, what), fileName);
  }

  /** Opens (creating with owner-only permissions) the store under `root`; failure is STATE_BACKEND_UNAVAILABLE. */
  static async open(root: string): Promise<FilesystemStateStore> {
    const store = new FilesystemStateStore(root);
    try {
      await makeDirectories(store.resources, 0o700);
      await makeDirectories(store.locks, 0o700);
      // Prove the directory is writable now, not halfway through an apply.
      await writeFileAtomic(join(root, ".wfctl-state"), root, `${FILESYSTEM_FORMAT}\n`);
      warmRecordWriter();
    } catch (err) {
      throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `cannot open filesystem state at ${root}: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    throwIfAborted(ctx);
    const path = join(this.resources, `${fileName(resourceId)}.json`);
    try {
      return decodeRecord(await readText(path, ctx.signal), path, resourceId);
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
      await writeRecordFile(path, this.resources, encodeRecord(state));
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
    // Read side by side: one after another, each file's four calls (open, stat, read, close) made 1,000 records take most of a plan.
    const records = await mapBounded(names.filter((n) => n.endsWith(".json")).sort(), LIST_PARALLELISM, async (name) => {
      throwIfAborted(ctx);
      const path = join(this.resources, name);
      let text: string;
      try {
        text = await readText(path, ctx.signal);
      } catch (err) {
        if (isMissing(err)) return undefined; // deleted since the listing
        throwIfAborted(ctx);
        throw this.wrap(err, `read ${path}`);
      }
      const state = decodeRecord(text, path, resourceIdOfFile(name));
      return matchesFilter(state, filter) ? state : undefined;
    });
    return records.filter((r): r is ResourceState => r !== undefined);
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

  lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    return this.lockFiles.take(resourceId, request, ctx);
  }

  unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    return this.lockFiles.release(resourceId, lockId, ctx, options);
  }

  listLocks(ctx: StoreContext): Promise<LockInfo[]> {
    return this.lockFiles.list(ctx);
  }

  async close(): Promise<void> {}

  private wrap(err: unknown, what: string): WfctlError {
    if (err instanceof WfctlError) return err;
    return new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, `filesystem state: ${what}: ${(err as Error).message}`, { cause: err });
  }
}
