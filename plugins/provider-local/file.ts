// local.file: a regular file with content and permissions, written atomically.
// Its path stays under the provider root: checked at plan (containment.ts),
// and again as it is written, read and deleted.
import { createHash } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import type { AppliedResource, CallContext, JsonObject, PriorResource, ReadResult, ResourceType } from "../sdk/index.js";
import { planFromSchema } from "../sdk/index.js";
import { CREATE_NO_FOLLOW, checkStillAt, containedParent, containedPath, inspectUnderRoot } from "./containment.js";
import { configuredPath, formatMode, parseMode, recordedPath, underRoot, type LocalProvider } from "./paths.js";

function describe(name: string): string {
  return `${name} (local.file)`;
}

/**
 * Where a file is written before it is renamed into place: one name per
 * file, so a write interrupted by a kill leaves at most one, which the next
 * write of that file (or its delete, or a read that finds it gone) removes.
 */
function tempNameOf(path: string): string {
  return `.${basename(path)}.wfctl.tmp`;
}

/**
 * Writes `content` to `full` atomically, inside the root: each directory on
 * the way is checked as it is made, the temporary file is created with
 * O_NOFOLLOW|O_EXCL, and it is renamed into the checked directory only if
 * that directory still resolves where it did.
 */
async function writeAtomically(provider: LocalProvider, full: string, content: string, mode: number, resource: string, signal: AbortSignal): Promise<void> {
  const parent = (await containedParent(provider, full, resource, { mode: 0o755 })) as string;
  const temp = join(parent, tempNameOf(full));
  await rm(temp, { force: true });
  try {
    const handle = await open(temp, CREATE_NO_FOLLOW, mode);
    try {
      await handle.writeFile(content, { signal });
      await handle.chmod(mode);
    } finally {
      await handle.close();
    }
    signal.throwIfAborted();
    await checkStillAt(provider, full, parent, resource);
    // rename replaces a symlink at the file's own name; it never writes through one.
    await rename(temp, join(parent, basename(full)));
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

async function write(config: JsonObject, provider: LocalProvider, name: string, signal: AbortSignal): Promise<AppliedResource> {
  const path = underRoot(provider.root, String(config["path"]), describe(name));
  const content = String(config["content"] ?? "");
  const mode = parseMode(String(config["mode"]), describe(name));
  await writeAtomically(provider, path, content, mode, describe(name), signal);
  return {
    providerId: path,
    outputs: {
      absolute_path: path,
      sha256: createHash("sha256").update(content).digest("hex"),
      size: Buffer.byteLength(content),
    },
  };
}

/**
 * The file at `real` as UTF-8 (as readFile gives it), in one read when its
 * size is still `size` (its stat, just taken: readFile would take it again):
 * a read one byte longer comes back short at the file's end.
 */
export async function readText(real: string, size: number, signal: AbortSignal): Promise<string> {
  const handle = await open(real, "r");
  try {
    const chunks: Buffer[] = [];
    let chunk = Buffer.allocUnsafe(size + 1);
    for (;;) {
      signal.throwIfAborted();
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      chunks.push(chunk.subarray(0, bytesRead));
      // A regular file reads short only at its end.
      if (bytesRead < chunk.length) break;
      chunk = Buffer.allocUnsafe(64 * 1024);
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    await handle.close();
  }
}

async function read(prior: PriorResource, provider: LocalProvider, name: string, ctx: CallContext): Promise<ReadResult> {
  const { signal } = ctx;
  signal.throwIfAborted();
  const path = recordedPath(prior, provider.root, describe(name));
  // Never read through a symlink out of the root: what it points to would land in plans and state.
  const found = await inspectUnderRoot(provider, path, describe(name), ctx.operation.id);
  if (found === undefined) {
    // A write cut short by a kill left its temporary file: nothing else will.
    const parent = await containedParent(provider, path, describe(name), undefined);
    if (parent !== undefined) await rm(join(parent, tempNameOf(path)), { force: true });
    return { found: false };
  }
  const { real, info } = found;
  if (!info.isFile()) return { found: false };
  const content = await readText(real, info.size, signal);
  return {
    found: true,
    providerId: path,
    config: { path: configuredPath(prior, path, provider.root), content, mode: formatMode(info.mode) },
    outputs: { absolute_path: path, sha256: createHash("sha256").update(content).digest("hex"), size: info.size },
  };
}

function fileType(sensitive: boolean): ResourceType<LocalProvider> {
  const fields = {
    path: { type: "string", required: true, forceNew: true, description: "Path relative to the provider root; it must stay under the root, symlinks included." },
    content: { type: "string", default: "", sensitive, description: "UTF-8 content of the file." },
    mode: { type: "string", default: sensitive ? "0600" : "0644", description: "Octal permissions." },
    absolute_path: { type: "string", computed: true, description: "Where the file is." },
    sha256: { type: "string", computed: true, description: "SHA-256 of the content." },
    size: { type: "number", computed: true, description: "Size in bytes." },
  } as const;
  return {
    description: sensitive
      ? "A regular file whose content is secret: masked in plans, drift and outputs (like Terraform's local_sensitive_file); owner-only by default."
      : "A regular file under the provider root, with its content and permissions.",
    fields,
    // The path is checked against what exists now, so an escape is refused before anything is written.
    async plan({ resource, config, prior, provider }, ctx) {
      await containedPath(provider, String(config["path"]), describe(resource.name), ctx.operation.id);
      return planFromSchema(config, prior, fields);
    },
    create: ({ resource, config, provider }, ctx) => write(config, provider, resource.name, ctx.signal),
    update: ({ resource, config, provider }, ctx) => write(config, provider, resource.name, ctx.signal),
    read: ({ resource, prior, provider }, ctx) => read(prior, provider, resource.name, ctx),
    async delete({ resource, prior, provider }, ctx): Promise<void> {
      ctx.signal.throwIfAborted();
      const path = recordedPath(prior, provider.root, describe(resource.name));
      // Removed from the directory as resolved and checked: never through a symlink out of the root.
      const parent = await containedParent(provider, path, describe(resource.name), undefined);
      if (parent === undefined) return;
      await rm(join(parent, basename(path)), { force: true });
      await rm(join(parent, tempNameOf(path)), { force: true });
    },
  };
}

export const fileResource = fileType(false);
export const sensitiveFileResource = fileType(true);
