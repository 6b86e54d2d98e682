// wfctl.yaml: a project's own plugins (name, kind, source path or npm package,
// version, args, env), read and checked, every problem naming the file, line
// and field. What runs is decided by the lockfile (lockfile.ts), never by
// this file alone.
import { z } from "zod";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { ENV_NAME } from "../../proto/env-patterns.js";
import { CORE_BACKENDS } from "../../proto/state-store.js";
import { MODULE_NAME } from "../config/schema.js";
import { parseYamlFile } from "../config/load.js";
import { readConfigFile } from "../config/read.js";
import { formatDetails } from "../config/source.js";

export const MANIFEST_FILE = "wfctl.yaml";

/**
 * An npm package name (scoped or not): lower-case letters, digits and
 * `-._~`, never a path (`..`, `/x`, `./x`) that could lead resolution
 * outside the project's node_modules.
 */
export const PACKAGE_NAME = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*$/;

const manifestPluginSchema = z
  .object({
    name: z.string().regex(MODULE_NAME, { message: "must start with a letter or digit and use only letters, digits, '_', '.', '-'" }),
    kind: z.enum(["provider", "state_backend"]),
    /** Path of the executable, or of a .js/.mjs/.cjs file run with this Node.js; relative to wfctl.yaml. */
    source: z.string().min(1).optional(),
    /** An npm package installed in the project's own node_modules; its package.json `bin` is the executable. */
    package: z.string().regex(PACKAGE_NAME, { message: "must be an npm package name (such as @acme/wfctl-plugin), not a path" }).optional(),
    /**
     * Where `wfctl plugins install` gets the package: a local tarball (.tgz) or
     * folder, relative to wfctl.yaml. Without it, the npm registry (at `version`).
     */
    from: z.string().min(1).optional(),
    /** The version the plugin must report; checked when locking and at every start. With `package:`, the version installed. */
    version: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: z.record(z.string().regex(ENV_NAME, { message: "must be an environment variable name" }), z.string()).optional(),
  })
  .strict()
  .refine((p) => (p.source === undefined) !== (p.package === undefined), { message: "set exactly one of source and package" })
  .refine((p) => p.from === undefined || p.package !== undefined, { message: "from: is where a package: is installed from; a source: plugin has none", path: ["from"] });

const manifestSchema = z.object({ plugins: z.array(manifestPluginSchema).default([]) }).strict();

/** One plugin as wfctl.yaml declares it. */
export type ManifestPlugin = z.infer<typeof manifestPluginSchema>;

/** A file's text, or undefined when it does not exist: a regular file, bounded in size and time (config/read.ts). */
export function readOptional(path: string): Promise<string | undefined> {
  return readConfigFile(path, { what: "plugin file", missingOk: true });
}

/**
 * `text` (YAML) checked against `schema`; CONFIG_INVALID naming file, line
 * and field of each problem. Parsed off the event loop, as infra.yaml is
 * (config/load.ts).
 */
export async function parseWith<T>(file: string, text: string, schema: z.ZodType<T>): Promise<T> {
  const { value, source } = await parseYamlFile(file, text);
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    const field = path.filter((p) => typeof p === "string").join(".");
    return source.detail(path, issue.message, undefined, field || undefined);
  });
  throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(file, details), { details });
}

/** What `source` / `package` says, as recorded in the lockfile. */
export function declared(plugin: ManifestPlugin): string {
  return plugin.source !== undefined ? `source:${plugin.source}` : `package:${plugin.package}`;
}

/** The plugins of wfctl.yaml (`file`); a name declared twice or a core backend name is CONFIG_INVALID. */
export async function parseManifest(file: string, text: string): Promise<ManifestPlugin[]> {
  const { plugins } = await parseWith(file, text, manifestSchema);
  // One name, one plugin: the lockfile pins each by its name alone.
  const kinds = new Map<string, string>();
  for (const p of plugins) {
    const earlier = kinds.get(p.name);
    if (earlier !== undefined) {
      const as = earlier === p.kind ? `(${p.kind})` : `(as a ${earlier} and as a ${p.kind}; a name is one plugin)`;
      throw new WfctlError(ErrorCode.CONFIG_INVALID, `${file}: plugin "${p.name}" ${as} is declared twice`);
    }
    kinds.set(p.name, p.kind);
    if (p.kind === "state_backend" && CORE_BACKENDS.includes(p.name)) {
      throw new WfctlError(ErrorCode.CONFIG_INVALID, `${file}: plugin "${p.name}": ${CORE_BACKENDS.join(", ")} are core state backends and cannot be replaced`);
    }
  }
  return plugins;
}
