// local.file: a regular file with content and permissions, written atomically.
import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { AppliedResource, JsonObject, ReadResult, ResourceType } from "../sdk/index.js";
import { formatMode, parseMode, underRoot, type LocalProvider } from "./paths.js";

function describe(name: string): string {
  return `${name} (local.file)`;
}

async function writeAtomically(path: string, content: string, mode: number, signal: AbortSignal): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const temp = `${path}.wfctl-${randomBytes(6).toString("hex")}.tmp`;
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
    async read({ prior }, ctx): Promise<ReadResult> {
      const path = prior.providerId;
      let info;
      try {
        info = await stat(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return { found: false };
        throw err;
      }
      if (!info.isFile()) return { found: false };
      const content = await readFile(path, { encoding: "utf8", signal: ctx.signal });
      return {
        found: true,
        config: { path: prior.config["path"] ?? path, content, mode: formatMode(info.mode) },
        outputs: { absolute_path: path, sha256: createHash("sha256").update(content).digest("hex"), size: info.size },
      };
    },
    async delete({ prior }, ctx): Promise<void> {
      ctx.signal.throwIfAborted();
      await rm(prior.providerId, { force: true });
    },
  };
}

export const fileResource = fileType(false);
export const sensitiveFileResource = fileType(true);
