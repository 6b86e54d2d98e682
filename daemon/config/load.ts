// Loading infra.yaml: read the file, then parse and resolve it for the
// environment (parse.ts, resolve.ts), keeping the last configurations loaded
// for a warm daemon. Every problem found is reported at once, each naming the
// file, line, module and field.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import type { InfraConfig } from "./model.js";
import { parseInfraConfig } from "./parse.js";
import type { YamlPath } from "./source.js";

export { parseInfraConfig } from "./parse.js";

/** Reads and resolves `file` for environment `env` ("" for none). */
export async function loadInfraConfig(file: string, env: string): Promise<InfraConfig> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (err as Error).message;
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `cannot read configuration ${path}: ${why}`, {
      details: [{ file: path, message: why }],
    });
  }
  const key = `${path}\0${env}`;
  const cached = parsed.get(key);
  if (cached?.text === text) {
    // Most recently used last, so the oldest entry is the one dropped.
    parsed.delete(key);
    parsed.set(key, cached);
    return cached.config;
  }
  const config = parseInfraConfig(path, text, env);
  freezeConfig(config);
  parsed.set(key, { text, config });
  if (parsed.size > PARSED_KEPT) parsed.delete(parsed.keys().next().value as string);
  return config;
}

/**
 * The last configurations loaded, by file and environment, with the text they
 * came from. A configuration is a function of its text, path and environment
 * alone, so a warm daemon answering the same CI step again skips YAML parsing
 * and validation (about a third of a warm plan of 100 resources) whenever the
 * file is unchanged. Cached configurations are frozen: nothing may change one.
 */
const parsed = new Map<string, { text: string; config: InfraConfig }>();
const PARSED_KEPT = 16;

function freezeConfig(config: InfraConfig): void {
  const freeze = (value: unknown): void => {
    if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
    if (value instanceof Map) {
      for (const entry of value.values()) freeze(entry);
    } else {
      Object.values(value).forEach(freeze);
    }
    Object.freeze(value);
  };
  // Not the source file: the YAML document keeps caches of its own.
  for (const [key, value] of Object.entries(config)) if (key !== "source") freeze(value);
  Object.freeze(config);
}

/** Problems found later (e.g. against a provider's schema), located in the file. */
export function moduleProblem(config: InfraConfig, resource: { index: number; baseName: string }, field: string | undefined, message: string): ErrorDetail {
  const path: YamlPath = field === undefined ? ["modules", resource.index] : ["modules", resource.index, "config", ...field.split(".")];
  return config.source.detail(path, message, resource.baseName, field === undefined ? undefined : `config.${field}`);
}

