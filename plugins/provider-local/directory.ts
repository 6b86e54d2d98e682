// local.directory: a directory under the provider root. Deleting refuses to
// remove files wfctl does not manage unless force_destroy is set.
import { chmod, mkdir, readdir, rm, rmdir, stat } from "node:fs/promises";
import { ErrorCode, type PriorResource, type ReadResult, type ResourceType, WfctlError } from "../sdk/index.js";
import { formatMode, parseMode, underRoot, type LocalProvider } from "./paths.js";

function describe(name: string): string {
  return `${name} (local.directory)`;
}

async function ensure(config: Record<string, unknown>, root: string, name: string, signal: AbortSignal) {
  const path = underRoot(root, String(config["path"]), describe(name));
  const mode = parseMode(String(config["mode"]), describe(name));
  signal.throwIfAborted();
  await mkdir(path, { recursive: true, mode });
  await chmod(path, mode);
  return { providerId: path, outputs: { absolute_path: path } };
}

/** The directory a record is about: its provider id, or (a create never confirmed) where its configuration puts it. */
function recordedPath(prior: PriorResource, root: string, name: string): string {
  return prior.providerId || underRoot(root, String(prior.config["path"]), describe(name));
}

export const directoryResource: ResourceType<LocalProvider> = {
  description: "A directory under the provider root.",
  fields: {
    path: { type: "string", required: true, forceNew: true, description: "Path relative to the provider root." },
    mode: { type: "string", default: "0755", description: "Octal permissions." },
    force_destroy: { type: "bool", default: false, description: "Delete the directory even if it holds files wfctl does not manage." },
    absolute_path: { type: "string", computed: true, description: "Where the directory is." },
  },
  create: ({ resource, config, provider }, ctx) => ensure(config, provider.root, resource.name, ctx.signal),
  update: ({ resource, config, provider }, ctx) => ensure(config, provider.root, resource.name, ctx.signal),
  async read({ resource, prior, provider }): Promise<ReadResult> {
    const path = recordedPath(prior, provider.root, resource.name);
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { found: false };
      throw err;
    }
    if (!info.isDirectory()) return { found: false };
    return {
      found: true,
      providerId: path,
      config: {
        path: prior.config["path"] ?? path,
        mode: formatMode(info.mode),
        force_destroy: prior.config["force_destroy"] ?? false,
      },
      outputs: { absolute_path: path },
    };
  },
  async delete({ resource, prior, provider }, ctx): Promise<void> {
    ctx.signal.throwIfAborted();
    const path = recordedPath(prior, provider.root, resource.name);
    if (prior.config["force_destroy"] === true) {
      await rm(path, { recursive: true, force: true });
      return;
    }
    let entries: string[];
    try {
      entries = await readdir(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    if (entries.length > 0) {
      const shown = entries.slice(0, 5).join(", ") + (entries.length > 5 ? `, … (${entries.length} entries)` : "");
      throw new WfctlError(
        ErrorCode.FAILED_PRECONDITION,
        `${describe(resource.name)}: directory ${path} is not empty (${shown}); ` +
          `delete those files, declare them as resources that depend on it, or set force_destroy: true`,
      );
    }
    await rmdir(path);
  },
};
