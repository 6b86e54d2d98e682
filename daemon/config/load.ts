// Loading infra.yaml: read the file (read.ts: a regular file, bounded in size
// and time), then parse and resolve it for the environment (parse.ts,
// resolve.ts; in wfctld, in a worker thread within a time budget:
// offthread.ts), keeping the last configurations loaded for a warm daemon
// (EnvironmentNames loads one on its way: env-references.ts). Every problem
// found is reported at once, each naming the file, line, module and field.
import { resolve } from "node:path";
import type { ErrorDetail } from "../../proto/errors.js";
import { configLimits } from "./limits.js";
import type { InfraConfig } from "./model.js";
import { type EnvironmentReferences, parseForNames } from "./env-references.js";
import { parseOffThread } from "./offthread.js";
import type { InfraReply } from "./parse-worker.js";
import { IndexedSource, LocatedSource, type YamlPath } from "./positions.js";
import { readConfigFile } from "./read.js";

import { parseInfraConfig } from "./parse.js";
import { SourceFile } from "./source.js";

export { parseInfraConfig };

/** Where a daemon says which configurations it parsed and which it reused (debug lines; absent in tests of the parser alone). */
export interface ParseLog {
  debug(fields: Record<string, unknown>, message: string): void;
}

/** Reads and resolves `file` for environment `env` ("" for none). */
export async function loadInfraConfig(file: string, env: string, log?: ParseLog): Promise<InfraConfig> {
  const path = resolve(file);
  const text = await readConfigFile(path);
  const key = `${path}\0${env}`;
  const cached = parsed.get(key);
  if (cached?.text === text) {
    // Most recently used last, so the oldest entry is the one dropped.
    parsed.delete(key);
    parsed.set(key, cached);
    log?.debug({ file: path, env }, "configuration unchanged since it was parsed: reused");
    return cached.config;
  }
  const started = performance.now();
  const limits = configLimits();
  let config: InfraConfig;
  if (limits.inWorker) {
    const reply = await parseOffThread({ kind: "infra", file: path, text, env, maxBytes: limits.maxBytes }, limits.timeoutMs);
    if (reply.kind !== "infra") throw new Error("the configuration parser answered another job");
    config = configOf(path, reply);
  } else {
    config = parseInfraConfig(path, text, env, limits.maxBytes);
  }
  freeze(config);
  remember(parsed, key, { text, config, references: undefined });
  log?.debug({ file: path, env, for: "operation", ms: Math.round(performance.now() - started) }, "configuration parsed");
  return config;
}

/**
 * What EnvironmentNames needs of `path` (undefined when it is not YAML),
 * parsed once with the configuration for `env`: that is kept as
 * loadInfraConfig keeps what it loads, so the operation that follows on the
 * same text does not parse it again. A file that does not check still
 * yields its references (the operation then reports its problems); a file
 * that cannot be read throws.
 */
export async function loadForEnvironmentNames(file: string, env: string, log?: ParseLog): Promise<EnvironmentReferences | undefined> {
  const path = resolve(file);
  const text = await readConfigFile(path);
  const key = `${path}\0${env}`;
  const cached = parsed.get(key);
  if (cached?.text === text && cached.references) return cached.references;
  const started = performance.now();
  const limits = configLimits();
  let references: EnvironmentReferences | undefined;
  let config: InfraConfig | undefined;
  if (limits.inWorker) {
    const reply = await parseOffThread({ kind: "names", file: path, text, env, maxBytes: limits.maxBytes }, limits.timeoutMs);
    if (reply.kind !== "names") throw new Error("the configuration parser answered another job");
    references = reply.references;
    if (reply.loaded.ok) config = configOf(path, reply.loaded);
  } else {
    const result = parseForNames(path, text, env, limits.maxBytes);
    references = result.references;
    if ("config" in result.loaded) config = result.loaded.config;
  }
  if (config) {
    freeze(config);
    remember(parsed, key, { text, config, references });
  }
  log?.debug({ file: path, env, for: "environment-names", checked: config !== undefined, ms: Math.round(performance.now() - started) }, "configuration parsed");
  return references;
}

function configOf(path: string, reply: InfraReply): InfraConfig {
  return { ...reply.config, source: new IndexedSource(path, reply.positions) };
}

/** A YAML file's value (undefined when empty) and where its nodes are. */
export interface YamlFile {
  value: unknown;
  source: LocatedSource;
}

/**
 * Parses the YAML `text` of `file` (wfctl.yaml, the lockfile) as
 * configurations are (in wfctld, in a worker thread); the value is frozen,
 * and kept for the next call with the same text.
 */
export async function parseYamlFile(file: string, text: string): Promise<YamlFile> {
  const cached = yamlFiles.get(file);
  if (cached?.text === text) return cached.parsed;
  const limits = configLimits();
  let result: YamlFile;
  if (limits.inWorker) {
    const reply = await parseOffThread({ kind: "yaml", file, text, maxBytes: limits.maxBytes }, limits.timeoutMs);
    if (reply.kind !== "yaml") throw new Error("the configuration parser answered another job");
    result = { value: reply.value, source: new IndexedSource(file, reply.positions) };
  } else {
    const source = SourceFile.parse(file, text, limits.maxBytes);
    result = { value: source.value(), source };
  }
  freeze(result.value);
  remember(yamlFiles, file, { text, parsed: result });
  return result;
}

/**
 * The last configurations loaded, by file and environment, with the text they
 * came from. A configuration is a function of its text, path and environment
 * alone, so a warm daemon answering the same CI step again skips YAML parsing
 * and validation (about a third of a warm plan of 100 resources) whenever the
 * file is unchanged. Cached configurations are frozen: nothing may change one.
 */
const parsed = new Map<string, { text: string; config: InfraConfig; references: EnvironmentReferences | undefined }>();
/** The same for other YAML files (wfctl.yaml and its lockfile, read by every operation). */
const yamlFiles = new Map<string, { text: string; parsed: YamlFile }>();
const KEPT = 16;

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > KEPT) cache.delete(cache.keys().next().value as string);
}

function freeze(value: unknown): void {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return;
  // Not the source: it locates paths (a YAML document keeps caches of its own), and is no part of the configuration.
  if (value instanceof LocatedSource) return;
  if (value instanceof Map) {
    for (const entry of value.values()) freeze(entry);
  } else {
    Object.values(value).forEach(freeze);
  }
  Object.freeze(value);
}

/** Problems found later (e.g. against a provider's schema), located in the file. */
export function moduleProblem(config: InfraConfig, resource: { index: number; baseName: string }, field: string | undefined, message: string): ErrorDetail {
  const path: YamlPath = field === undefined ? ["modules", resource.index] : ["modules", resource.index, "config", ...field.split(".")];
  return config.source.detail(path, message, resource.baseName, field === undefined ? undefined : `config.${field}`);
}
