// The sections of a saved plan's "checks": each records, when the plan is
// saved, what the plan was made from, and finds, when it is applied, what
// changed since. A value a secret could be in is sealed (proto/sealed.ts) and
// compared through its seal; a digest covers only what is not secret, so the
// file lets nobody guess a secret by hashing candidates.
import { createHash } from "node:crypto";
import { z } from "zod";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type JsonObject, type JsonValue, canonicalJson, isJsonObject, jsonEqual } from "../../proto/json.js";
import { REDACTED, redact } from "../../proto/redact.js";
import { isSecretKey } from "../../proto/saved-plan.js";
import { isSealed, sameValue, seal } from "../../proto/sealed.js";
import type { ResourceState } from "../../proto/state-store.js";
import type { InfraConfig } from "../config/model.js";
import type { StateLocation } from "../state/open.js";
import type { Plan, PlannedChange } from "./plan-model.js";
import type { ProviderSessions } from "./providers.js";

/** What a saved plan is made from, or checked against: a plan just made, and what it was made with. */
export interface SavedPlanBasis {
  plan: Plan;
  config: InfraConfig;
  sessions: ProviderSessions;
  where: StateLocation;
}

/** One section of the checks: its shape in the file, what it records, and what it finds changed (one line each). */
export interface Section<T> {
  name: string;
  schema: z.ZodType<T>;
  record(basis: SavedPlanBasis): Promise<T>;
  changed(saved: T, basis: SavedPlanBasis): Promise<string[]>;
}

const jsonValue = z.custom<JsonValue>((v) => v === null || ["string", "number", "boolean", "object"].includes(typeof v), { message: "not a JSON value" });
const jsonObject = z.custom<JsonObject>((v) => isJsonObject(v), { message: "not a JSON object" });

export function sha256(value: JsonValue): string {
  return `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`;
}

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

/** Whether a secret key appears anywhere inside `value`. */
function holdsSecretKey(value: JsonValue): boolean {
  if (Array.isArray(value)) return value.some(holdsSecretKey);
  if (isJsonObject(value)) return Object.entries(value).some(([k, v]) => isSecretKey(k) || holdsSecretKey(v));
  return false;
}

/** A field's value as a plan file keeps it: sealed when it is sensitive or a secret key names it or hides in it; null when absent. */
function fileValue(field: string, value: JsonValue | undefined, sensitive: boolean): JsonValue {
  if (value === undefined) return null;
  if (isSealed(value)) return value;
  return sensitive || isSecretKey(field) || holdsSecretKey(value) ? seal(value) : value;
}

/** Top-level fields of a resource's configuration that are sensitive: by its type's schema, or (in a plan) by what a reference put in them. */
async function sensitiveFieldsOf(sessions: ProviderSessions, provider: string, type: string, extra: readonly string[] = []): Promise<Set<string>> {
  const fields = (await sessions.get(provider)).schema.types.get(type) ?? {};
  return new Set([...Object.entries(fields).flatMap(([name, spec]) => (spec.sensitive ? [name] : [])), ...extra]);
}

/** Whether a value holds a sensitive variable's value (is it, or, as text, contains it). */
function sensitiveVariableTest(config: InfraConfig): (value: JsonValue) => boolean {
  const values = config.variables.filter((v) => v.sensitive).map((v) => v.value);
  const texts = values.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).filter((t) => t !== "");
  return (value) => (typeof value === "string" ? texts.some((t) => value.includes(t)) : values.some((v) => jsonEqual(v, value)));
}

/**
 * The configuration with every secret replaced by REDACTED (schema-sensitive
 * resource fields, fields a sensitive reference or variable fills, any value
 * under a secret key, any value holding a sensitive variable's), and the
 * secrets by path.
 */
async function splitConfiguration({ config, sessions }: SavedPlanBasis): Promise<{ masked: JsonObject; secrets: Map<string, JsonValue> }> {
  const secrets = new Map<string, JsonValue>();
  const holdsSensitiveVariable = sensitiveVariableTest(config);
  const mask = (path: string, value: JsonValue, sensitive: ReadonlySet<string> = new Set()): JsonValue => {
    if (Array.isArray(value)) return value.map((v, i) => mask(`${path}[${i}]`, v));
    if (!isJsonObject(value)) {
      if (!holdsSensitiveVariable(value)) return value;
      secrets.set(path, value);
      return REDACTED;
    }
    const out: JsonObject = {};
    for (const [key, v] of Object.entries(value)) {
      if (sensitive.has(key) || isSecretKey(key)) {
        secrets.set(`${path}.${key}`, v);
        out[key] = REDACTED;
      } else out[key] = mask(`${path}.${key}`, v);
    }
    return out;
  };
  const resources: JsonValue[] = [];
  for (const r of config.resources) {
    const sensitive = await sensitiveFieldsOf(sessions, r.provider, r.type, r.sensitiveFields);
    const configured = mask(`resources.${r.name}.config`, r.config, sensitive);
    resources.push({
      name: r.name,
      type: r.type,
      provider: r.provider,
      protected: r.protected,
      ...(r.createBeforeDestroy ? { create_before_destroy: true } : {}),
      depends_on: r.dependsOn,
      config: configured,
    });
  }
  const providers = [...config.providers.values()].map((p) => ({ name: p.name, plugin: p.plugin, config: mask(`providers.${p.name}.config`, p.config) }));
  const outputs = config.outputs.map((o) => ({ name: o.name, resource: o.resource ?? null, field: o.field, sensitive: o.sensitive, sinks: o.sinks.map(({ location: _location, ...sink }) => ({ ...sink })) }));
  const state = { backend: config.state.backend, config: mask("state.config", config.state.config) };
  return { masked: { env: config.env, namespace: config.namespace, state, providers, resources, outputs } as JsonObject, secrets };
}

type ConfigurationCheck = { digest: string; sealed: Record<string, JsonValue> };

/** The configuration, resolved for the environment: a digest of all but its secrets, and its secrets sealed. */
const configuration: Section<ConfigurationCheck> = {
  name: "configuration",
  schema: z.object({ digest: z.string(), sealed: z.record(z.string(), jsonValue) }),
  async record(basis) {
    const { masked, secrets } = await splitConfiguration(basis);
    return { digest: sha256(masked), sealed: Object.fromEntries([...secrets].map(([path, value]) => [path, fileValue(path, value, true)])) };
  },
  async changed(saved, basis) {
    const { masked, secrets } = await splitConfiguration(basis);
    const digest = sha256(masked);
    if (digest !== saved.digest) return [`the configuration changed (${basis.config.file}: digest ${short(saved.digest)} when planned, ${short(digest)} now)`];
    return Object.entries(saved.sealed)
      .filter(([path, sealed]) => !sameValue(sealed, secrets.get(path)))
      .map(([path]) => `the configuration changed: the sensitive value at ${path} (${basis.config.file})`);
  },
};

/** A record's identity for the check: what it holds, secrets in its outputs masked (its config holds only seals). */
function recordDigest(record: ResourceState): string {
  return sha256(redact({ ...record } as unknown as JsonObject));
}

const recordCheck = z.object({ digest: z.string(), provider_id: z.string(), updated_at: z.string(), status: z.string() }).nullable();
type StateCheck = { backend: string; namespace: string; records: Record<string, z.infer<typeof recordCheck>> };

/** Where state is, and the record each planned resource was planned against (null: none), as Terraform checks a plan's state serial and lineage. */
const state: Section<StateCheck> = {
  name: "state",
  schema: z.object({ backend: z.string(), namespace: z.string(), records: z.record(z.string(), recordCheck) }),
  async record({ plan, where }) {
    const priors = new Map(plan.priors.map((p) => [p.resourceId, p]));
    const records = Object.fromEntries(
      plan.changes.map((c) => {
        const prior = priors.get(c.name);
        return [c.name, prior ? { digest: recordDigest(prior), provider_id: prior.providerId, updated_at: prior.updatedAt, status: prior.status } : null];
      }),
    );
    return { backend: where.backend, namespace: where.namespace, records };
  },
  async changed(saved, { plan, where }) {
    if (saved.backend !== where.backend || saved.namespace !== where.namespace) {
      return [`state is elsewhere now: ${where.backend} (namespace ${where.namespace}); the plan was made against ${saved.backend} (namespace ${saved.namespace})`];
    }
    const priors = new Map(plan.priors.map((p) => [p.resourceId, p]));
    return Object.entries(saved.records).flatMap(([name, then]) => {
      const now = priors.get(name);
      if (!then) return now ? [`"${name}" has a state record now (it had none when planned; updated ${now.updatedAt})`] : [];
      if (!now) return [`the state record of "${name}" is gone (it was updated ${then.updated_at} when planned)`];
      return recordDigest(now) === then.digest ? [] : [`the state record of "${name}" changed (updated ${then.updated_at} when planned, ${now.updatedAt} now)`];
    });
  },
};

const pluginCheck = z.object({ plugin: z.string(), version: z.string(), checksum: z.string() });
type PluginsCheck = Record<string, z.infer<typeof pluginCheck>>;

/** What each provider module the plan uses runs: its plugin's version, and checksum where the lockfile pins one. */
async function pluginOf(sessions: ProviderSessions, module: string): Promise<z.infer<typeof pluginCheck>> {
  const handle = await sessions.get(module);
  return { plugin: handle.module.plugin, version: handle.instance.info?.version ?? "", checksum: handle.instance.spec.pinned?.checksum ?? "" };
}

const plugins: Section<PluginsCheck> = {
  name: "plugins",
  schema: z.record(z.string(), pluginCheck),
  async record({ plan, sessions }) {
    const modules = [...new Set(plan.changes.map((c) => c.provider))].sort();
    return Object.fromEntries(await Promise.all(modules.map(async (m) => [m, await pluginOf(sessions, m)] as const)));
  },
  async changed(saved, { config, sessions }) {
    const problems: string[] = [];
    for (const [module, then] of Object.entries(saved)) {
      if (!config.providers.has(module)) {
        problems.push(`provider module "${module}" is no longer in ${config.file}`);
        continue;
      }
      const now = await pluginOf(sessions, module);
      const what = `provider module "${module}" (plugin "${now.plugin}")`;
      if (now.plugin !== then.plugin) problems.push(`provider module "${module}" uses plugin "${now.plugin}" now ("${then.plugin}" when planned)`);
      else if (now.version !== then.version) problems.push(`${what} is version ${now.version || "(none)"} now (${then.version || "(none)"} when planned)`);
      else if (now.checksum !== then.checksum) problems.push(`${what} has checksum ${now.checksum || "(none)"} now (${then.checksum || "(none)"} when planned)`);
    }
    return problems;
  },
};

const resourceCheck = z.object({ type: z.string(), provider: z.string(), config: jsonObject });
type ResourcesCheck = Record<string, z.infer<typeof resourceCheck>>;

/** The fields of two configurations that differ (either may hold seals). */
function differingFields(a: JsonObject, b: JsonObject): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !sameValue(a[k] ?? null, b[k] ?? null)).sort();
}

/** The configuration each created, updated or replaced resource is given, its references resolved: what apply sends its provider. */
const resources: Section<ResourcesCheck> = {
  name: "resources",
  schema: z.record(z.string(), resourceCheck),
  async record({ plan, sessions }) {
    const out: ResourcesCheck = {};
    for (const change of plan.changes) {
      if (!change.resource) continue;
      const sensitive = await sensitiveFieldsOf(sessions, change.provider, change.type, change.sensitiveFields);
      const config = Object.fromEntries(Object.entries(change.resource.config).map(([k, v]) => [k, fileValue(k, v, sensitive.has(k))]));
      out[change.name] = { type: change.type, provider: change.provider, config };
    }
    return out;
  },
  async changed(saved, { plan }) {
    return Object.entries(saved).flatMap(([name, then]) => {
      const now = plan.changes.find((c) => c.name === name)?.resource;
      if (!now) return [];
      if (now.type !== then.type || now.provider !== then.provider) return [`"${name}" is ${now.type} of provider module "${now.provider}" now (${then.type} of "${then.provider}" when planned)`];
      const fields = differingFields(then.config, now.config);
      return fields.length > 0 ? [`the configuration of "${name}" resolves differently now (${fields.join(", ")})`] : [];
    });
  },
};

const fieldCheck = z.object({ field: z.string(), before: jsonValue, after: jsonValue, forces_replace: z.boolean() });
const changeCheck = z.object({ name: z.string(), type: z.string(), action: z.string(), ghost: z.boolean(), fields: z.array(fieldCheck) });
type ChangeCheck = z.infer<typeof changeCheck>;

function changeOf(change: PlannedChange): ChangeCheck {
  return {
    name: change.name,
    type: change.type,
    action: change.action,
    ghost: change.ghost,
    fields: change.fields.map((f) => ({ field: f.field, before: fileValue(f.field, f.before, f.sensitive), after: fileValue(f.field, f.after, f.sensitive), forces_replace: f.forcesReplace })),
  };
}

const TO_BE: Readonly<Record<string, string>> = { noop: "stay unchanged", create: "be created", update: "be updated", replace: "be replaced", delete: "be deleted" };
const toBe = (action: string) => TO_BE[action] ?? action;

/** How a change planned now differs from the saved one, or undefined when it does not. */
function changeDifference(then: ChangeCheck, now: PlannedChange): string | undefined {
  const who = `"${then.name}" (${then.type})`;
  if (now.action !== then.action || now.type !== then.type) return `${who} was planned to ${toBe(then.action)}; it would ${toBe(now.action)} now (it changed since the plan)`;
  if (now.ghost !== then.ghost) return `${who} ${now.ghost ? "is gone from its provider now (a ghost)" : "exists again"}`;
  const fields = new Map(now.fields.map((f) => [f.field, f]));
  const differing = new Set([...fields.keys()].filter((f) => !then.fields.some((t) => t.field === f)));
  for (const t of then.fields) {
    const f = fields.get(t.field);
    if (!f || f.forcesReplace !== t.forces_replace || !sameValue(t.before, f.before ?? null) || !sameValue(t.after, f.after ?? null)) differing.add(t.field);
  }
  return differing.size > 0 ? `${who} changed since the plan: what its ${then.action} would change differs in ${[...differing].sort().join(", ")}` : undefined;
}

/** Every planned change, field by field (sensitive values sealed): what is applied must be exactly this. */
const changes: Section<ChangeCheck[]> = {
  name: "changes",
  schema: z.array(changeCheck),
  async record({ plan }) {
    return plan.changes.map(changeOf);
  },
  async changed(saved, { plan }) {
    const now = new Map(plan.changes.map((c) => [c.name, c]));
    const problems = saved.flatMap((then) => {
      const change = now.get(then.name);
      if (!change) return [`"${then.name}" (${then.type}) was planned to ${toBe(then.action)}; it is not part of the plan now`];
      const difference = changeDifference(then, change);
      return difference ? [difference] : [];
    });
    const known = new Set(saved.map((c) => c.name));
    for (const change of plan.changes) if (!known.has(change.name)) problems.push(`"${change.name}" (${change.type}) would ${toBe(change.action)} now; the saved plan does not include it`);
    return problems;
  },
};

/** A section with its type erased, its saved part checked against its schema first. */
export interface SectionCheck {
  name: string;
  record(basis: SavedPlanBasis): Promise<JsonValue>;
  /** Throws INVALID_ARGUMENT when `saved` is not what this section records. */
  changed(saved: JsonValue, basis: SavedPlanBasis): Promise<string[]>;
}

export function checked<T extends JsonValue>(section: Section<T>): SectionCheck {
  return {
    name: section.name,
    record: (basis) => section.record(basis),
    changed(saved, basis) {
      const parsed = section.schema.safeParse(saved);
      if (!parsed.success) {
        const why = parsed.error.issues.map((i) => `${[section.name, ...i.path.map(String)].join(".")}: ${i.message}`).slice(0, 3).join("; ");
        throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `the saved plan's checks are malformed (${why})`, { details: [{ field: `checks.${section.name}`, message: why }] });
      }
      return section.changed(parsed.data, basis);
    },
  };
}

/** A saved plan's sections but the input variables (saved-plan-variables.ts), in the order they are checked and reported. */
export const SECTIONS: readonly SectionCheck[] = [checked(configuration), checked(state), checked(plugins), checked(resources), checked(changes)];
