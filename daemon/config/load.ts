// Loading infra.yaml: parse (with positions), check the schema, resolve the
// environment, then check the rules that span modules. Every problem found is
// reported at once, each naming the file, line, module and field.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { z } from "zod";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { findCycle } from "../engine/graph.js";
import { type EnvironmentView, resolveForEnvironment } from "./environments.js";
import {
  DEFAULT_STATE_DIRECTORY,
  type InfraConfig,
  type ProviderModule,
  type ResourceModule,
  type StateModule,
  namespaceOf,
} from "./model.js";
import { PROVIDER_MODULE, RESOURCE_TYPE, type RawInfra, STATE_MODULE, infraSchema } from "./schema.js";
import { SourceFile, type YamlPath, throwIfProblems } from "./source.js";

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
  return parseInfraConfig(path, text, env);
}

function schemaDetails(source: SourceFile, raw: unknown, issues: readonly z.core.$ZodIssue[]): ErrorDetail[] {
  const modules = (raw as { modules?: unknown[] } | undefined)?.modules;
  return issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    let module: string | undefined;
    let field: string | undefined;
    if (path[0] === "modules" && typeof path[1] === "number") {
      const m = Array.isArray(modules) ? (modules[path[1]] as { name?: unknown } | undefined) : undefined;
      module = typeof m?.name === "string" ? m.name : `#${path[1] + 1}`;
      field = path.length > 2 ? path.slice(2).join(".") : undefined;
    } else if (path.length > 0) {
      field = path.join(".");
    }
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      message = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    } else if (issue.code === "invalid_type" && issue.message.includes("received undefined")) {
      message = "is required";
    }
    return source.detail(path, message, module, field);
  });
}

/** Parses configuration text; `file` names it in errors and anchors relative paths. */
export function parseInfraConfig(file: string, text: string, env: string): InfraConfig {
  const source = SourceFile.parse(file, text);
  const raw = source.value();
  if (raw === null || raw === undefined) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `invalid configuration: ${file}: the file is empty; it needs a "modules:" list`, {
      details: [{ file, message: 'the file is empty; it needs a "modules:" list' }],
    });
  }
  const parsed = infraSchema.safeParse(raw);
  if (!parsed.success) throwIfProblems(file, schemaDetails(source, raw, parsed.error.issues));
  return resolveConfig(source, (parsed as { data: RawInfra }).data, env);
}

interface Entry {
  index: number;
  view: EnvironmentView;
}

function resolveConfig(source: SourceFile, raw: RawInfra, env: string): InfraConfig {
  const file = source.file;
  const problems: ErrorDetail[] = [];
  const at = (index: number, path: YamlPath, module: string, message: string, field?: string) =>
    problems.push(source.detail(["modules", index, ...path], message, module, field));

  // Resolve every module for the environment; remember which are disabled.
  const enabled: Entry[] = [];
  const disabled = new Set<string>();
  raw.modules.forEach((module, index) => {
    const view = resolveForEnvironment(module, env);
    if (view) enabled.push({ index, view });
    else disabled.add(module.name);
  });
  const byBase = new Map<string, Entry>();
  raw.modules.forEach((module, index) => {
    if (byBase.has(module.name)) at(index, ["name"], module.name, `duplicate module name (also module #${(byBase.get(module.name)?.index ?? 0) + 1})`, "name");
    const entry = enabled.find((e) => e.index === index);
    if (entry) byBase.set(module.name, entry);
  });
  const resolvedNames = new Map<string, number>();
  for (const { index, view } of enabled) {
    const other = resolvedNames.get(view.name);
    if (other !== undefined && raw.modules[other]?.name !== raw.modules[index]?.name) {
      at(index, ["name"], raw.modules[index]?.name ?? view.name, `resolves to name "${view.name}" in environment "${env}", which module "${raw.modules[other]?.name}" also uses`, "name");
    }
    resolvedNames.set(view.name, index);
  }
  const describeRef = (base: string): string => (disabled.has(base) ? `is disabled in environment "${env}"` : "does not exist");

  // The state module.
  let state: StateModule = { name: "", backend: "filesystem", config: { directory: DEFAULT_STATE_DIRECTORY }, index: undefined };
  const stateEntries = enabled.filter((e) => e.view.type === STATE_MODULE);
  for (const extra of stateEntries.slice(1)) {
    at(extra.index, ["type"], raw.modules[extra.index]?.name ?? "", `only one ${STATE_MODULE} module is allowed (first: "${stateEntries[0]?.view.name}")`, "type");
  }
  const stateEntry = stateEntries[0];
  if (stateEntry) {
    const base = raw.modules[stateEntry.index]?.name ?? "";
    const backend = stateEntry.view.config["backend"];
    if (backend !== undefined && (typeof backend !== "string" || backend === "")) {
      at(stateEntry.index, ["config", "backend"], base, "must be a backend name (memory, filesystem, postgres, or a plugin's)", "config.backend");
    }
    const { backend: _ignored, ...rest } = stateEntry.view.config;
    const backendName = typeof backend === "string" && backend !== "" ? backend : "filesystem";
    state = {
      name: stateEntry.view.name,
      backend: backendName,
      config: backendName === "filesystem" && rest["directory"] === undefined ? { ...rest, directory: DEFAULT_STATE_DIRECTORY } : rest,
      index: stateEntry.index,
    };
  }

  // Provider modules.
  const providers = new Map<string, ProviderModule>();
  for (const { index, view } of enabled.filter((e) => e.view.type === PROVIDER_MODULE)) {
    const base = raw.modules[index]?.name ?? view.name;
    const plugin = view.config["provider"];
    if (typeof plugin !== "string" || plugin === "") {
      at(index, ["config"], base, `an ${PROVIDER_MODULE} module needs config.provider: the plugin to run (e.g. "local")`, "config.provider");
      continue;
    }
    const { provider: _plugin, ...rest } = view.config;
    providers.set(base, { name: view.name, baseName: base, index, plugin, config: rest });
  }

  // Module types, and keys only resource modules take.
  for (const { index, view } of enabled) {
    const base = raw.modules[index]?.name ?? view.name;
    const isCore = view.type === STATE_MODULE || view.type === PROVIDER_MODULE;
    if (!isCore && (view.type.startsWith("iac.") || !RESOURCE_TYPE.test(view.type))) {
      at(index, ["type"], base, `unknown module type "${view.type}" (expected ${STATE_MODULE}, ${PROVIDER_MODULE}, or a resource type such as local.file)`, "type");
    }
    if (isCore) {
      const module = raw.modules[index];
      for (const key of ["provider", "depends_on", "protected"] as const) {
        if (module?.[key] !== undefined) at(index, [key], base, `only resource modules take "${key}" (this is an ${view.type} module)`, key);
      }
    }
  }

  // Resources: provider and dependency references.
  const resources: ResourceModule[] = [];
  const resourceEntries = enabled.filter((e) => e.view.type !== STATE_MODULE && e.view.type !== PROVIDER_MODULE);
  const providerNames = [...providers.keys()];
  for (const { index, view } of resourceEntries) {
    const base = raw.modules[index]?.name ?? view.name;
    let provider = "";
    if (view.provider === undefined) {
      at(index, [], base, `missing provider: name the ${PROVIDER_MODULE} module that manages it (declared: ${providerNames.join(", ") || "none"})`, "provider");
    } else {
      const target = providers.get(view.provider);
      const other = byBase.get(view.provider);
      if (target) provider = target.name;
      else if (other?.view.type !== PROVIDER_MODULE) {
        const why = other ? `is of type ${other.view.type}, not ${PROVIDER_MODULE}` : describeRef(view.provider);
        at(index, ["provider"], base, `provider "${view.provider}" ${why} (declared ${PROVIDER_MODULE} modules: ${providerNames.join(", ") || "none"})`, "provider");
      }
    }
    const dependsOn: string[] = [];
    view.dependsOn.forEach((dep, i) => {
      const target = byBase.get(dep);
      if (!target) at(index, ["depends_on", i], base, `depends on "${dep}", which ${describeRef(dep)}`, "depends_on");
      else if (target.view.type === STATE_MODULE || target.view.type === PROVIDER_MODULE) {
        at(index, ["depends_on", i], base, `depends on "${dep}", of type ${target.view.type}; resources depend only on resources`, "depends_on");
      } else if (dep === base) at(index, ["depends_on", i], base, "depends on itself", "depends_on");
      else dependsOn.push(target.view.name);
    });
    resources.push({
      name: view.name,
      baseName: base,
      index,
      type: view.type,
      provider,
      config: view.config,
      dependsOn: [...new Set(dependsOn)],
      protected: view.protected,
    });
  }

  if (problems.length === 0) {
    const cycle = findCycle(resources);
    if (cycle) {
      const first = resources.find((r) => r.name === cycle[0]);
      const names = cycle.map((n) => resources.find((r) => r.name === n)?.baseName ?? n);
      at(first?.index ?? 0, ["depends_on"], first?.baseName ?? "", `dependency cycle: ${names.join(" → ")}`, "depends_on");
    }
  }
  throwIfProblems(file, problems);
  return {
    file,
    dir: dirname(file),
    env,
    namespace: namespaceOf(env),
    source,
    state,
    providers: new Map([...providers.values()].map((p) => [p.name, p])),
    resources,
  };
}

/** Problems found later (e.g. against a provider's schema), located in the file. */
export function moduleProblem(config: InfraConfig, resource: { index: number; baseName: string }, field: string | undefined, message: string): ErrorDetail {
  const path: YamlPath = field === undefined ? ["modules", resource.index] : ["modules", resource.index, "config", ...field.split(".")];
  return config.source.detail(path, message, resource.baseName, field === undefined ? undefined : `config.${field}`);
}

