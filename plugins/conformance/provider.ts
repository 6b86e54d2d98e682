// The provider conformance kit: the behaviour every provider must have, checked
// over its gRPC contract (wfctl.plugin.v1.IaCProvider and, when served,
// IaCDriftDetector) the way the daemon calls it, so that a provider written in
// any language can be checked. The author describes each resource type: a
// name, configurations to create, update and replace with, and how to delete
// (and, optionally, change) the real resource behind the provider's back.
// Every check works on a resource of its own and deletes what it created.
// This file is how the checks reach a provider; ./provider-checks.ts holds
// them; `describeProviderConformance` (./vitest.ts) registers them as tests.
import { randomBytes } from "node:crypto";
import { type FieldDifference, type FieldMap, type FieldProblem, diffFields, fieldMapFromProto, validateFields, withDefaults } from "../../proto/fields.js";
import {
  Action,
  type ApplyResourceResponse,
  DriftClass,
  type DriftResult,
  type IaCDriftDetector,
  type IaCProvider,
  type PlanResourceResponse,
} from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import type { CallOptions, UnaryClient } from "../../proto/grpc.js";
import { type JsonObject, type JsonValue, decodeJsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { sealFields } from "../../proto/sealed.js";
import { settleDriftSeals, settlePlanSeals } from "../../proto/sealed-compare.js";
import { attempt, check } from "./assert.js";
import { conformanceOperation, operationMetadata } from "./given-up.js";

/** A configuration, or one made from the check's resource name (for what must be unique per resource, like a path). */
export type ConfigFor = JsonObject | ((name: string) => JsonObject);

/** A resource as the provider created it: what `outOfBandDelete` needs to find it. */
export interface CreatedResource {
  /** The resource name the check used. */
  name: string;
  type: string;
  /** The provider's identifier, as Apply returned it. */
  providerId: string;
  /** The configuration as applied and the outputs Apply returned. */
  config: JsonObject;
  outputs: JsonObject;
  /** Aborted after 60 s. */
  signal: AbortSignal;
}

/** A change made behind the provider's back: the field changed and the value the resource has now. */
export interface OutOfBandChange {
  /** A top-level field of the type's schema that can be updated in place (not force_new, not computed). */
  field: string;
  /** Its value now, as Read must report it. */
  actual: JsonValue;
}

/** How to exercise one resource type. */
export interface ResourceFixture {
  /** Start of the resource names: each check adds its own suffix, so no two checks share a resource. */
  name: string;
  create: ConfigFor;
  /** An in-place change of `create`: at least one field differs, and no force_new field. */
  update: ConfigFor;
  /** A change of a force_new field of `update`; without it the replace plan is not checked. */
  replace?: ConfigFor;
  /** Deletes the real resource without the provider (removes the file, runs DROP ROLE). */
  outOfBandDelete(resource: CreatedResource): Promise<void>;
  /**
   * Changes one field of the real resource without the provider (rewrites
   * the file, runs ALTER ROLE) and says which, and to what. The config-drift
   * check runs for types that have it: every type whose resources can be
   * changed out of band should.
   */
  outOfBandChange?(resource: CreatedResource): Promise<OutOfBandChange>;
}

/** The provider under test, reached over gRPC. */
export interface ProviderUnderTest {
  provider: UnaryClient<typeof IaCProvider>;
  /** Set when the plugin serves IaCDriftDetector; without it drift is judged from Read, as the daemon does. */
  driftDetector?: UnaryClient<typeof IaCDriftDetector> | undefined;
  /**
   * The plugin's PluginController: the cancellation and deadline checks reach
   * the provider through its CancelOperation (a call cancelled or past its
   * deadline is answered by the gRPC client, never by the provider). Without
   * it those checks fail, saying so.
   */
  controller?: UnaryClient<typeof PluginController> | undefined;
  /** The iac.provider module's configuration, sent with Configure. */
  config: JsonObject;
  /** ConfigureRequest.working_dir: what relative paths resolve against. */
  workingDir: string;
  /** Called after the last check (stop the plugin). */
  close?(): Promise<void>;
}

/** What an author gives the kit: the resource types to check, by type, and how to reach the plugin. */
export interface ProviderConformanceSetup {
  resources: Readonly<Record<string, ResourceFixture>>;
  /** Starts or reaches the plugin; called once, before the checks. */
  connect(): Promise<ProviderUnderTest>;
}

/** One conformance check, run once per resource type. */
export interface ProviderCheck {
  /** Part of the name of the resource the check uses. */
  slug: string;
  name: string;
  /** Whether it runs for a type (a check that needs an optional hook runs where the fixture has it); absent: for every type. */
  appliesTo?(fixture: ResourceFixture): boolean;
  run(resource: ResourceUnderTest): Promise<void>;
}

// The daemon's limits (plan, read and drift; create, update and delete), and
// how long a refused call may go on in the provider before the kit looks for
// what it did.
export const QUICK_MS = 60_000;
const APPLY_MS = 30 * 60_000;

/** Options as the daemon sends them: a deadline and the metadata of an operation of its own. */
function within(ms: number): CallOptions {
  return { deadline: new Date(Date.now() + ms), metadata: operationMetadata(conformanceOperation()) };
}


export const problemsText = (problems: readonly FieldProblem[]) => problems.map((p) => `field "${p.field}" ${p.message}`).join("; ");
export const topField = (field: string) => field.split(".")[0] ?? field;

/** A configured provider and its schema, shared by the checks. */
export class ProviderSession {
  /** Keeps this run's resource names apart from an earlier run's leftovers. */
  readonly runId = randomBytes(3).toString("hex");

  constructor(
    readonly under: ProviderUnderTest,
    private readonly types: ReadonlyMap<string, FieldMap>,
  ) {}

  fields(type: string): FieldMap {
    const fields = this.types.get(type);
    check(fields !== undefined, `GetSchema does not list resource type "${type}" (it lists: ${[...this.types.keys()].join(", ") || "none"})`);
    return fields;
  }
}

/** GetSchema, then Configure with the author's configuration (checked against config_fields first), as the daemon does. */
export async function openProviderSession(under: ProviderUnderTest): Promise<ProviderSession> {
  const schema = await attempt("GetSchema", under.provider.getSchema({}, within(QUICK_MS)));
  const problems = validateFields(under.config, fieldMapFromProto(schema.configFields));
  check(problems.length === 0, `the provider configuration does not validate against GetSchema's config_fields: ${problemsText(problems)}`);
  // Once, with the schema's defaults filled in, as the daemon configures each plugin process.
  const config = withDefaults(under.config, fieldMapFromProto(schema.configFields));
  await attempt("Configure", under.provider.configure({ configJson: encodeJson(config), workingDir: under.workingDir }, within(QUICK_MS)));
  return new ProviderSession(under, new Map(schema.resourceTypes.map((t) => [t.type, fieldMapFromProto(t.fields)])));
}

/** What state records for a resource. */
export interface Recorded {
  providerId: string;
  config: JsonObject;
  outputs: JsonObject;
}

/** Each recorded configuration as the daemon keeps it: sensitive values sealed (sealed once, as state keeps one seal). */
const sealedConfigs = new WeakMap<Recorded, JsonObject>();

/** One resource a check works on: its calls, what state would record for it, and what is left to delete. */
export class ResourceUnderTest {
  readonly fields: FieldMap;
  /** What state would record now: set by a create or an update, cleared by a delete. */
  recorded: Recorded | undefined;
  /** Everything created and not deleted yet, by provider id. */
  private readonly live = new Map<string, Recorded>();

  constructor(
    private readonly session: ProviderSession,
    readonly type: string,
    readonly fixture: ResourceFixture,
    readonly name: string,
  ) {
    this.fields = session.fields(type);
  }

  get who(): string {
    return `${this.type} "${this.name}"`;
  }

  /** The plugin's PluginController, when the kit was given it. */
  get controller(): UnaryClient<typeof PluginController> | undefined {
    return this.session.under.controller;
  }

  /** What outOfBandDelete and outOfBandChange are given about `recorded`. */
  created(recorded: Recorded): CreatedResource {
    return { name: this.name, type: this.type, ...recorded, signal: AbortSignal.timeout(QUICK_MS) };
  }

  private get ref() {
    return { name: this.name, type: this.type };
  }

  config(which: "create" | "update" | "replace"): JsonObject {
    const config = this.fixture[which];
    check(config !== undefined, `${this.who}: the fixture has no ${which} configuration`);
    return typeof config === "function" ? config(this.name) : config;
  }

  /** The settable fields that differ from `from` once `to` has its defaults. */
  changes(from: JsonObject, to: JsonObject): FieldDifference[] {
    return diffFields(from, withDefaults(to, this.fields), this.fields);
  }

  /** The recorded configuration as the daemon keeps it: sensitive values sealed, never the values themselves. */
  private sealedConfig(r: Recorded): JsonObject {
    let config = sealedConfigs.get(r);
    if (!config) {
      const sensitive = new Set(Object.entries(this.fields).flatMap(([name, spec]) => (spec.sensitive ? [name] : [])));
      config = sealFields(r.config, sensitive);
      sealedConfigs.set(r, config);
    }
    return config;
  }

  /** The prior state as the daemon sends it. */
  private priorMessage(r: Recorded) {
    return { providerId: r.providerId, configJson: encodeJson(this.sealedConfig(r)), outputsJson: encodeJson(r.outputs) };
  }

  private prior(): Recorded {
    check(this.recorded !== undefined, `${this.who}: nothing is recorded (the check must create it first)`);
    return this.recorded;
  }

  /** A value for a failure message: a sensitive field's never. */
  shown(field: string, value: JsonValue | undefined): string {
    if (value === undefined) return "(absent)";
    return this.fields[topField(field)]?.sensitive ? "(sensitive)" : JSON.stringify(value);
  }

  private listed(plan: PlanResourceResponse): string {
    const value = (bytes: Uint8Array) => decodeJsonValue(bytes, `${this.who}: a planned change`);
    return plan.changes
      .map((c) => `${c.field}: ${this.shown(c.field, value(c.beforeJson))} → ${this.shown(c.field, value(c.afterJson))}${c.forcesReplace ? " (forces replace)" : ""}`)
      .join("; ") || "none";
  }

  // The calls, with the daemon's deadlines and metadata unless `options` replace them.

  /** Plan as the daemon calls it: the schema's defaults filled in, and the answer without the changes only a seal made (sealed-compare.ts). */
  async planCall(config: JsonObject, prior: Recorded | undefined, options: CallOptions = {}): Promise<PlanResourceResponse> {
    const desired = withDefaults(config, this.fields);
    const request = { resource: this.ref, desiredConfigJson: encodeJson(desired), prior: prior && this.priorMessage(prior) };
    const answer = await this.session.under.provider.plan(request, { ...within(QUICK_MS), ...options });
    return settlePlanSeals(answer, prior && this.sealedConfig(prior), desired);
  }

  applyCall(action: Action, config: JsonObject | undefined, prior: Recorded | undefined, options: CallOptions = {}): Promise<ApplyResourceResponse> {
    const desired = config ? encodeJson(withDefaults(config, this.fields)) : new Uint8Array();
    const request = { resource: this.ref, action, desiredConfigJson: desired, prior: prior && this.priorMessage(prior) };
    return this.session.under.provider.apply(request, { ...within(APPLY_MS), ...options });
  }

  readCall(prior: Recorded, options: CallOptions = {}) {
    return this.session.under.provider.read({ resource: this.ref, prior: this.priorMessage(prior) }, { ...within(QUICK_MS), ...options });
  }

  // Steps that fail with what went wrong.

  /** Records what Apply returned, as the daemon does: the applied configuration, or the desired one (defaults filled in) when none came back. */
  private record(response: ApplyResourceResponse, desired: JsonObject): Recorded {
    const applied = response.appliedConfigJson.byteLength > 0 ? decodeJsonObject(response.appliedConfigJson, `${this.who}: applied_config_json`) : withDefaults(desired, this.fields);
    this.recorded = { providerId: response.providerId, config: applied, outputs: decodeJsonObject(response.outputsJson, `${this.who}: outputs_json`) };
    this.live.set(this.recorded.providerId, this.recorded);
    return this.recorded;
  }

  async create(config: JsonObject): Promise<Recorded> {
    return this.record(await attempt(`${this.who}: Apply CREATE`, this.applyCall(Action.CREATE, config, undefined)), config);
  }

  async update(config: JsonObject): Promise<Recorded> {
    const prior = this.prior();
    const response = await attempt(`${this.who}: Apply UPDATE`, this.applyCall(Action.UPDATE, config, prior));
    this.live.delete(prior.providerId);
    return this.record(response, config);
  }

  async delete(what: string, prior: Recorded = this.prior()): Promise<void> {
    await attempt(`${this.who}: ${what}`, this.applyCall(Action.DELETE, undefined, prior));
    this.live.delete(prior.providerId);
    if (this.recorded === prior) this.recorded = undefined;
  }

  /** Deletes it at the end of the check, whether or not it exists. */
  remember(prior: Recorded): void {
    this.live.set(prior.providerId, prior);
  }

  /** Read must find the recorded resource as applied; returns what state would record after a refresh. */
  async expectFound(what: string): Promise<Recorded> {
    const prior = this.prior();
    const read = await attempt(`${this.who}: ${what}`, this.readCall(prior));
    check(read.found, `${this.who}: ${what}: found=false, but the resource was applied and nothing deleted it`);
    const config = decodeJsonObject(read.configJson, `${this.who}: ${what}: config_json`);
    const differences = diffFields(prior.config, config, this.fields);
    const shown = differences.map((d) => `${d.field}: applied ${this.shown(d.field, d.before)}, read ${this.shown(d.field, d.after)}`);
    check(differences.length === 0, `${this.who}: ${what}: the configuration read differs from the one applied: ${shown.join("; ")}`);
    const outputs = read.outputsJson.byteLength > 0 ? decodeJsonObject(read.outputsJson, `${this.who}: ${what}: outputs_json`) : prior.outputs;
    return { providerId: prior.providerId, config, outputs };
  }

  async expectGone(what: string, prior: Recorded = this.prior()): Promise<void> {
    const read = await attempt(`${this.who}: ${what}`, this.readCall(prior));
    check(!read.found, `${this.who}: ${what}: Read still finds it (found=true)`);
  }

  /** Plan must say `action`, list no change for a NOOP, and mark every change of a sensitive field sensitive. */
  async expectPlan(config: JsonObject, prior: Recorded | undefined, action: Action, what: string): Promise<PlanResourceResponse> {
    const plan = await attempt(`${this.who}: ${what}`, this.planCall(config, prior));
    check(plan.action === action, `${this.who}: ${what}: expected ${Action[action]}, got ${Action[plan.action] ?? plan.action} (changes: ${this.listed(plan)})`);
    check(action !== Action.NOOP || plan.changes.length === 0, `${this.who}: ${what}: a NOOP must list no changes, got: ${this.listed(plan)}`);
    const unmasked = plan.changes.filter((c) => this.fields[topField(c.field)]?.sensitive && !c.sensitive).map((c) => c.field);
    check(unmasked.length === 0, `${this.who}: ${what}: the change of sensitive field(s) ${unmasked.join(", ")} is not marked sensitive, so the host would print the value`);
    return plan;
  }

  /** DetectDrift must say `expected`, when the plugin serves it (Read alone decides otherwise, as in the daemon); its result, if served. */
  async expectDrift(expected: DriftClass, what: string): Promise<DriftResult | undefined> {
    const detector = this.session.under.driftDetector;
    if (!detector) return undefined;
    const prior = this.prior();
    const answer = await attempt(`${this.who}: ${what}`, detector.detectDrift({ resource: this.ref, prior: this.priorMessage(prior) }, within(QUICK_MS)));
    // As the daemon does: a field that differs only by the seal the prior holds is not drift.
    const result = await settleDriftSeals(answer.result, this.sealedConfig(prior));
    const got = result?.class ?? DriftClass.UNKNOWN;
    const fields = (result?.fields ?? []).map((f) => f.field).join(", ");
    check(got === expected, `${this.who}: ${what}: expected ${DriftClass[expected]}, got ${DriftClass[got] ?? got}${fields ? ` (fields: ${fields})` : ""}`);
    check((result?.drifted ?? false) === (expected !== DriftClass.IN_SYNC), `${this.who}: ${what}: drifted must be ${expected !== DriftClass.IN_SYNC} for ${DriftClass[expected]}`);
    return result;
  }

  /** Deletes what the check left; deleting something already gone must succeed anyway. */
  async cleanup(): Promise<void> {
    for (const prior of [...this.live.values()]) await this.delete("Apply DELETE, cleaning up after the check", prior);
  }
}

/** Runs one check on a resource of its own, then deletes what it left (quietly if the check already failed). */
export async function runProviderCheck(session: ProviderSession, type: string, fixture: ResourceFixture, providerCheck: ProviderCheck): Promise<void> {
  const resource = new ResourceUnderTest(session, type, fixture, `${fixture.name}-${providerCheck.slug}-${session.runId}`);
  try {
    await providerCheck.run(resource);
  } catch (err) {
    await resource.cleanup().catch(() => undefined);
    throw err;
  }
  await resource.cleanup();
}
