// Provider and resource modules for one environment: each resource's
// provider, its dependencies, and its ${module.field} references, checked
// against the modules that exist (and are enabled) there.
import { findReferences, splitExpression } from "./references.js";
import type { ProviderModule, ResolvedReference, ResourceModule } from "./model.js";
import { type Entry, type Resolution, isCore, problemAt, whyMissing } from "./resolution.js";
import { PROVIDER_MODULE } from "./schema.js";
import { isVariableExpression } from "./variables.js";

/** Provider modules, by the name resources use to refer to them (the base name). */
export function resolveProviders(r: Resolution): Map<string, ProviderModule> {
  const providers = new Map<string, ProviderModule>();
  for (const { index, base, view } of r.enabled.filter((e) => e.view.type === PROVIDER_MODULE)) {
    const { provider: plugin, ...rest } = view.config;
    if (typeof plugin !== "string" || plugin === "") {
      problemAt(r, index, ["config"], base, `an ${PROVIDER_MODULE} module needs config.provider: the plugin to run (e.g. "local")`, "config.provider");
      continue;
    }
    providers.set(base, { name: view.name, baseName: base, index, plugin, config: rest });
  }
  return providers;
}

/** The resolved name of the provider module a resource names, or "" (the problem recorded). */
function providerOf(r: Resolution, entry: Entry, providers: ReadonlyMap<string, ProviderModule>): string {
  const { index, base, view } = entry;
  const declared = [...providers.keys()].join(", ") || "none";
  if (view.provider === undefined) {
    problemAt(r, index, [], base, `missing provider: name the ${PROVIDER_MODULE} module that manages it (declared: ${declared})`, "provider");
    return "";
  }
  const target = providers.get(view.provider);
  const other = r.byBase.get(view.provider);
  if (target) return target.name;
  if (other && other.view.type !== PROVIDER_MODULE) {
    problemAt(r, index, ["provider"], base, `provider "${view.provider}" is of type ${other.view.type}, not ${PROVIDER_MODULE}`, "provider");
  } else if (!other && !r.invalid.has(view.provider)) {
    problemAt(r, index, ["provider"], base, `provider "${view.provider}" ${whyMissing(r, view.provider)} (declared ${PROVIDER_MODULE} modules: ${declared})`, "provider");
  }
  return "";
}

/** Resolved names of what `depends_on` lists (each problem recorded). */
function dependenciesOf(r: Resolution, { index, base, view }: Entry): string[] {
  const dependsOn: string[] = [];
  view.dependsOn.forEach((dep, i) => {
    const target = r.byBase.get(dep);
    if (dep === base) problemAt(r, index, ["depends_on", i], base, "depends on itself", "depends_on");
    else if (target && isCore(target.view.type)) {
      problemAt(r, index, ["depends_on", i], base, `depends on "${dep}", of type ${target.view.type}; resources depend only on resources`, "depends_on");
    } else if (target) dependsOn.push(target.view.name);
    else if (!r.invalid.has(dep)) problemAt(r, index, ["depends_on", i], base, `depends on "${dep}", which ${whyMissing(r, dep)}`, "depends_on");
  });
  return dependsOn;
}

/** The ${module.field} references in a resource's config, checked (each problem recorded). */
function referencesOf(r: Resolution, { index, base, view }: Entry, moduleNames: ReadonlySet<string>): ResolvedReference[] {
  const references: ResolvedReference[] = [];
  for (const ref of findReferences(view.config)) {
    // ${var.NAME} names an input variable (checked by checkVariableUses), not a module.
    if (isVariableExpression(ref.expression)) continue;
    const where = ["config", ...ref.path];
    const field = `config.${ref.path.join(".")}`;
    const at = (message: string) => problemAt(r, index, where, base, message, field);
    const split = splitExpression(ref.expression, moduleNames);
    const target = split && r.byBase.get(split.module);
    if (!split) {
      const prefix = ref.expression.split(".")[0] ?? "";
      if (!r.invalid.has(prefix)) at(`reference \${${ref.expression}} must be \${module.field}, naming a resource module (modules: ${[...moduleNames].join(", ") || "none"})`);
    } else if (split.field === "") at(`reference \${${ref.expression}} names no field after the module`);
    else if (split.module === base) at(`reference \${${ref.expression}} refers to the module itself`);
    else if (!target) at(`reference \${${ref.expression}}: module "${split.module}" ${whyMissing(r, split.module)}`);
    else if (isCore(target.view.type)) at(`reference \${${ref.expression}} names a module of type ${target.view.type}; references name resource modules`);
    else references.push({ expression: ref.expression, target: target.view.name, field: split.field });
  }
  return references;
}

/** Enabled resource modules in file order, with their providers, dependencies and references resolved. */
export function resolveResources(r: Resolution, providers: ReadonlyMap<string, ProviderModule>): ResourceModule[] {
  const moduleNames = new Set(r.modules.flatMap((m) => (m ? [m.name] : [])));
  return r.enabled
    .filter((e) => !isCore(e.view.type))
    .map((entry) => {
      // In this order, so that problems at the same place are listed as they always were.
      const provider = providerOf(r, entry, providers);
      const declared = dependenciesOf(r, entry);
      const references = referencesOf(r, entry, moduleNames);
      const dependsOn = [...declared, ...references.map((ref) => ref.target)];
      return {
        name: entry.view.name,
        baseName: entry.base,
        index: entry.index,
        type: entry.view.type,
        provider,
        config: entry.view.config,
        dependsOn: [...new Set(dependsOn)],
        references,
        protected: entry.view.protected,
        createBeforeDestroy: entry.view.createBeforeDestroy,
        sensitiveFields: [],
      };
    });
}
