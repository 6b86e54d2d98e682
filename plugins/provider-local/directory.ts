// local.directory: a directory under the provider root. Deleting refuses to
// remove files wfctl does not manage unless force_destroy is set. Its path
// stays under the root: checked at plan (containment.ts), and again as it
// is made, read and deleted.
import { mkdir, open, readdir, rm, rmdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { ErrorCode, type ReadResult, type ResourceType, WfctlError, planFromSchema } from "../sdk/index.js";
import { OPEN_DIRECTORY_NO_FOLLOW, checkStillAt, containedParent, containedPath, inspectUnderRoot, resolveUnderRoot } from "./containment.js";
import { configuredPath, formatMode, parseMode, recordedPath, underRoot, type LocalProvider } from "./paths.js";

function describe(name: string): string {
  return `${name} (local.directory)`;
}

/**
 * Makes the directory (and those on the way, each checked as it is reached)
 * and sets its mode through a descriptor opened with O_NOFOLLOW on its real
 * path, so a symlink put in its place meanwhile is never followed.
 */
async function ensure(config: Record<string, unknown>, provider: LocalProvider, name: string, signal: AbortSignal) {
  const path = underRoot(provider.root, String(config["path"]), describe(name));
  const mode = parseMode(String(config["mode"]), describe(name));
  signal.throwIfAborted();
  const parent = (await containedParent(provider, path, describe(name), { mode })) as string;
  await mkdir(join(parent, basename(path)), { mode }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  });
  // Where it really is: a symlink there is followed only into the root.
  const real = (await resolveUnderRoot(provider, path, describe(name))) as string;
  const handle = await open(real, OPEN_DIRECTORY_NO_FOLLOW).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ELOOP" && code !== "ENOTDIR") throw err;
    throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `${describe(name)}: ${path} is not a directory${code === "ELOOP" ? " (a symlink was put there while it was made)" : ""}`);
  });
  try {
    await handle.chmod(mode);
  } finally {
    await handle.close();
  }
  await checkStillAt(provider, path, parent, describe(name));
  return { providerId: path, outputs: { absolute_path: path } };
}

const fields = {
  path: { type: "string", required: true, forceNew: true, description: "Path relative to the provider root; it must stay under the root, symlinks included." },
  mode: { type: "string", default: "0755", description: "Octal permissions." },
  force_destroy: { type: "bool", default: false, description: "Delete the directory even if it holds files wfctl does not manage." },
  absolute_path: { type: "string", computed: true, description: "Where the directory is." },
} as const;

export const directoryResource: ResourceType<LocalProvider> = {
  description: "A directory under the provider root.",
  fields,
  // The path is checked against what exists now, so an escape is refused before anything is made.
  async plan({ resource, config, prior, provider }, ctx) {
    await containedPath(provider, String(config["path"]), describe(resource.name), ctx.operation.id);
    return planFromSchema(config, prior, fields);
  },
  create: ({ resource, config, provider }, ctx) => ensure(config, provider, resource.name, ctx.signal),
  update: ({ resource, config, provider }, ctx) => ensure(config, provider, resource.name, ctx.signal),
  async read({ resource, prior, provider }, ctx): Promise<ReadResult> {
    ctx.signal.throwIfAborted();
    const path = recordedPath(prior, provider.root, describe(resource.name));
    const info = (await inspectUnderRoot(provider, path, describe(resource.name), ctx.operation.id))?.info;
    if (!info?.isDirectory()) return { found: false };
    return {
      found: true,
      providerId: path,
      config: {
        path: configuredPath(prior, path, provider.root),
        mode: formatMode(info.mode),
        force_destroy: prior.config["force_destroy"] ?? false,
      },
      outputs: { absolute_path: path },
    };
  },
  async delete({ resource, prior, provider }, ctx): Promise<void> {
    ctx.signal.throwIfAborted();
    const recorded = recordedPath(prior, provider.root, describe(resource.name));
    // Removed from the directory as resolved and checked: never through a symlink out of the root.
    const parent = await containedParent(provider, recorded, describe(resource.name), undefined);
    if (parent === undefined) return;
    const path = join(parent, basename(recorded));
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
        `${describe(resource.name)}: directory ${recorded} is not empty (${shown}); ` +
          `delete those files, declare them as resources that depend on it, or set force_destroy: true`,
      );
    }
    await rmdir(path);
  },
};
