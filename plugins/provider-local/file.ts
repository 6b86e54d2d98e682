// local.file: a regular file with content and permissions, written atomically.
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { AppliedResource, JsonObject, PriorResource, ReadResult, ResourceType } from "../sdk/index.js";
import { formatMode, parseMode, underRoot, type LocalProvider } from "./paths.js";

function describe(name: string): string {
  return `${name} (local.file)`;
}

/**
 * Where a file is written before it is renamed into place: one name per
 * file, so a write interrupted by a kill leaves at most one, which the next
 * write of that file (or its delete, or a read that finds it gone) removes.
 */
function tempPathOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.wfctl.tmp`);
}

async function writeAtomically(path: string, content: string, mode: number, signal: AbortSignal): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const temp = tempPathOf(path);
  try {
    await writeFile(temp, content, { mode, signal });
    await chmod(temp, mode);
    signal.throwIfAborted();
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

async function write(config: JsonObject, root: string, name: string, signal: AbortSignal): Promise<AppliedResource> {
  const path = underRoot(root, String(config["path"]), describe(name));
  const content = String(config["content"] ?? "");
  const mode = parseMode(String(config["mode"]), describe(name));
  await writeAtomically(path, content, mode, signal);
  return {
    providerId: path,
    outputs: {
      absolute_path: path,
      sha256: createHash("sha256").update(content).digest("hex"),
      size: Buffer.byteLength(content),
    },
  };
}

/** The file a record is about: its provider id, or (a create never confirmed) where its configuration puts it. */
function recordedPath(prior: PriorResource, root: string, name: string): string {
  return prior.providerId || underRoot(root, String(prior.config["path"]), describe(name));
}

function fileType(sensitive: boolean): ResourceType<LocalProvider> {
  return {
    description: sensitive
      ? "A regular file whose content is secret: masked in plans, drift and outputs (like Terraform's local_sensitive_file); owner-only by default."
      : "A regular file under the provider root, with its content and permissions.",
    fields: {
      path: { type: "string", required: true, forceNew: true, description: "Path relative to the provider root." },
      content: { type: "string", default: "", sensitive, description: "UTF-8 content of the file." },
      mode: { type: "string", default: sensitive ? "0600" : "0644", description: "Octal permissions." },
      absolute_path: { type: "string", computed: true, description: "Where the file is." },
      sha256: { type: "string", computed: true, description: "SHA-256 of the content." },
      size: { type: "number", computed: true, description: "Size in bytes." },
    },
    create: ({ resource, config, provider }, ctx) => write(config, provider.root, resource.name, ctx.signal),
    update: ({ resource, config, provider }, ctx) => write(config, provider.root, resource.name, ctx.signal),
    async read({ resource, prior, provider }, ctx): Promise<ReadResult> {
      const path = recordedPath(prior, provider.root, resource.name);
      let info;
      try {
        info = await stat(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        // A write cut short by a kill left its temporary file: nothing else will.
        await rm(tempPathOf(path), { force: true });
        return { found: false };
      }
      if (!info.isFile()) return { found: false };
      const content = await readFile(path, { encoding: "utf8", signal: ctx.signal });
      return {
        found: true,
        providerId: path,
        config: { path: prior.config["path"] ?? path, content, mode: formatMode(info.mode) },
        outputs: { absolute_path: path, sha256: createHash("sha256").update(content).digest("hex"), size: info.size },
      };
    },
    async delete({ resource, prior, provider }, ctx): Promise<void> {
      ctx.signal.throwIfAborted();
      const path = recordedPath(prior, provider.root, resource.name);
      await rm(path, { force: true });
      await rm(tempPathOf(path), { force: true });
    },
  };
}

export const fileResource = fileType(false);
export const sensitiveFileResource = fileType(true);
