// The provider conformance kit: the behaviour every provider must have, checked
// over its gRPC contract (wfctl.plugin.v1.IaCProvider and, when served,
// IaCDriftDetector) the way the daemon calls it, so that a provider written in
// any language can be checked. The author describes each resource type: a
// name, configurations to create, update and replace with, and how to delete
// the real resource behind the provider's back. Every check works on a
// resource of its own and deletes what it created.
// `describeProviderConformance` (./vitest.ts) registers the checks as tests.
import { randomBytes, randomUUID } from "node:crypto";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type FieldDifference, type FieldMap, type FieldProblem, diffFields, fieldMapFromProto, validateFields, withDefaults } from "../../proto/fields.js";
import {
  Action,
  type ApplyResourceResponse,
  DriftClass,
  type IaCDriftDetector,
  type IaCProvider,
  type PlanResourceResponse,
} from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { CallOptions, UnaryClient } from "../../proto/grpc.js";
import { type JsonObject, type JsonValue, decodeJsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { sealFields } from "../../proto/sealed.js";
import { settleDriftSeals, settlePlanSeals } from "../../proto/sealed-compare.js";
import { ConformanceFailure, check, expectCode, rejection } from "./assert.js";

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
}

/** The provider under test, reached over gRPC. */
export interface ProviderUnderTest {
  provider: UnaryClient<typeof IaCProvider>;
  /** Set when the plugin serves IaCDriftDetector; without it drift is judged from Read, as the daemon does. */
  driftDetector?: UnaryClient<typeof IaCDriftDetector> | undefined;
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
  run(resource: ResourceUnderTest): Promise<void>;
}

// The daemon's limits (plan, read and drift; create, update and delete), and
// how long a refused call may go on in the provider before the kit looks for
// what it did.
const QUICK_MS = 60_000;
const APPLY_MS = 30 * 60_000;
const SETTLE_MS = 300;

/** Options as the daemon sends them: a deadline and the operation's metadata. */
function within(ms: number): CallOptions {
  const metadata = { "wfctl-operation-id": `conformance-${randomUUID()}`, "wfctl-operation": "conformance", "wfctl-environment": "", "wfctl-caller": "conformance-kit" };
  return { deadline: new Date(Date.now() + ms), metadata };
}

/** `call`'s result; its failure as a ConformanceFailure naming the step. */
async function attempt<T>(what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    const error = WfctlError.from(err);
    throw new ConformanceFailure(`${what} failed with ${error.code}: ${error.message}`, { cause: err });
  }
}

const problemsText = (problems: readonly FieldProblem[]) => problems.map((p) => `field "${p.field}" ${p.message}`).join("; ");
const topField = (field: string) => field.split(".")[0] ?? field;

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
interface Recorded {
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

  private shown(field: string, value: JsonValue | undefined): string {
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

  /** DetectDrift must say `expected`, when the plugin serves it (Read alone decides otherwise, as in the daemon). */
  async expectDrift(expected: DriftClass, what: string): Promise<void> {
    const detector = this.session.under.driftDetector;
    if (!detector) return;
    const prior = this.prior();
    const answer = await attempt(`${this.who}: ${what}`, detector.detectDrift({ resource: this.ref, prior: this.priorMessage(prior) }, within(QUICK_MS)));
    // As the daemon does: a field that differs only by the seal the prior holds is not drift.
    const result = await settleDriftSeals(answer.result, this.sealedConfig(prior));
    const got = result?.class ?? DriftClass.UNKNOWN;
    const fields = (result?.fields ?? []).map((f) => f.field).join(", ");
    check(got === expected, `${this.who}: ${what}: expected ${DriftClass[expected]}, got ${DriftClass[got] ?? got}${fields ? ` (fields: ${fields})` : ""}`);
    check((result?.drifted ?? false) === (expected !== DriftClass.IN_SYNC), `${this.who}: ${what}: drifted must be ${expected !== DriftClass.IN_SYNC} for ${DriftClass[expected]}`);
  }

  /** Deletes what the check left; deleting something already gone must succeed anyway. */
  async cleanup(): Promise<void> {
    for (const prior of [...this.live.values()]) await this.delete("Apply DELETE, cleaning up after the check", prior);
  }
}

/**
 * Plan, Read and Apply CREATE, each refused with `code` because of `options`;
 * and the refused create made nothing: the same configuration, created and
 * deleted first, tells Read where to look. (A provider whose ids are not made
 * from the configuration, such as random cloud ids, cannot be caught that way.)
 */
async function expectRefused(r: ResourceUnderTest, options: CallOptions, code: ErrorCode, how: string): Promise<void> {
  const desired = r.config("create");
  const probe = await r.create(desired);
  await r.delete("Apply DELETE");
  await r.expectGone("Read after Apply DELETE", probe);
  r.remember(probe);
  for (const [what, call] of [
    ["Plan", () => r.planCall(desired, undefined, options)],
    ["Read", () => r.readCall(probe, options)],
    ["Apply CREATE", () => r.applyCall(Action.CREATE, desired, undefined, options)],
  ] as const) {
    expectCode(await rejection(call(), `${r.who}: ${what} ${how}`), [code], `${r.who}: ${what} ${how}`);
  }
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  await r.expectGone(`Read after an Apply CREATE ${how} (a refused create must create nothing)`, probe);
}

export const providerChecks: readonly ProviderCheck[] = [
  {
    slug: "schema",
    name: "schema: GetSchema lists the type; the create, update and replace configurations validate against its fields and change what they claim",
    async run(r) {
      const configs = { create: r.config("create"), update: r.config("update"), ...(r.fixture.replace ? { replace: r.config("replace") } : {}) };
      for (const [which, config] of Object.entries(configs)) {
        const problems = validateFields(config, r.fields);
        check(problems.length === 0, `${r.who}: the ${which} configuration does not validate against GetSchema's fields: ${problemsText(problems)}`);
      }
      const inPlace = r.changes(withDefaults(configs.create, r.fields), configs.update);
      check(inPlace.length > 0, `${r.who}: the update configuration must change a field of the create configuration`);
      const forced = inPlace.filter((d) => d.forcesReplace).map((d) => d.field);
      check(forced.length === 0, `${r.who}: the update configuration must be an in-place change, but it changes force_new field(s) ${forced.join(", ")}`);
      if (!configs.replace) return;
      const forceNew = Object.keys(r.fields).filter((f) => r.fields[f]?.forceNew);
      check(
        r.changes(withDefaults(configs.update, r.fields), configs.replace).some((d) => d.forcesReplace),
        `${r.who}: the replace configuration must change a force_new field of the update configuration (force_new fields: ${forceNew.join(", ") || "none"})`,
      );
    },
  },
  {
    slug: "create",
    name: "create: Plan without prior state says CREATE; Apply CREATE returns a provider id; Read finds it as applied",
    async run(r) {
      const desired = r.config("create");
      await r.expectPlan(desired, undefined, Action.CREATE, "Plan without prior state");
      const recorded = await r.create(desired);
      check(recorded.providerId !== "", `${r.who}: Apply CREATE returned an empty provider_id: it is how the provider finds the resource again`);
      await r.expectFound("Read after Apply CREATE");
    },
  },
  {
    slug: "plan-is-empty",
    name: "plan-is-empty: after a create, Plan of the same configuration is NOOP against the recorded state and against what Read observes",
    async run(r) {
      const desired = r.config("create");
      const recorded = await r.create(desired);
      await r.expectPlan(desired, recorded, Action.NOOP, "Plan against the state Apply CREATE recorded");
      const refreshed = await r.expectFound("Read after Apply CREATE");
      await r.expectPlan(desired, refreshed, Action.NOOP, "Plan against what Read observes (the daemon reads before it plans)");
    },
  },
  {
    slug: "update",
    name: "update: an in-place change plans UPDATE listing exactly the changed fields, applies, reads back, then plans NOOP; a force_new change plans REPLACE",
    async run(r) {
      const before = await r.create(r.config("create"));
      const desired = r.config("update");
      const expected = r.changes(before.config, desired).map((d) => d.field);
      const plan = await r.expectPlan(desired, before, Action.UPDATE, "Plan with the update configuration (an in-place change must not replace)");
      const listed = plan.changes.map((c) => topField(c.field));
      const missing = expected.filter((f) => !listed.includes(f));
      const unchanged = listed.filter((f) => !expected.includes(f) && !r.fields[f]?.computed);
      const forcing = plan.changes.filter((c) => c.forcesReplace).map((c) => c.field);
      check(missing.length === 0, `${r.who}: the UPDATE plan does not list the changed field(s) ${missing.join(", ")} (it lists: ${listed.join(", ") || "none"})`);
      check(unchanged.length === 0, `${r.who}: the UPDATE plan lists field(s) that did not change: ${unchanged.join(", ")}`);
      check(forcing.length === 0, `${r.who}: the UPDATE plan marks ${forcing.join(", ")} as forcing a replace`);
      const after = await r.update(desired);
      await r.expectFound("Read after Apply UPDATE");
      await r.expectPlan(desired, after, Action.NOOP, "Plan after Apply UPDATE");
      if (!r.fixture.replace) return;
      const replacement = r.config("replace");
      const forced = r.changes(after.config, replacement).filter((d) => d.forcesReplace).map((d) => d.field);
      const replan = await r.expectPlan(replacement, after, Action.REPLACE, "Plan with the replace configuration");
      const flagged = replan.changes.filter((c) => c.forcesReplace).map((c) => topField(c.field));
      const unflagged = forced.filter((f) => !flagged.includes(f));
      check(unflagged.length === 0, `${r.who}: the REPLACE plan must list the change of ${unflagged.join(", ")} with forces_replace (flagged: ${flagged.join(", ") || "none"})`);
    },
  },
  {
    slug: "drift",
    name: "drift: in sync after a create; after outOfBandDelete a ghost (Read finds nothing), and Apply DELETE of the ghost succeeds",
    async run(r) {
      const recorded = await r.create(r.config("create"));
      await r.expectFound("Read of a resource nobody touched");
      await r.expectDrift(DriftClass.IN_SYNC, "DetectDrift of a resource nobody touched");
      await r.fixture.outOfBandDelete({ name: r.name, type: r.type, ...recorded, signal: AbortSignal.timeout(QUICK_MS) });
      await r.expectGone("Read after outOfBandDelete");
      await r.expectDrift(DriftClass.GHOST, "DetectDrift after outOfBandDelete");
      await r.delete("Apply DELETE of a resource deleted out of band (wfctl destroy of a ghost sends this)");
    },
  },
  {
    slug: "delete",
    name: "delete: Apply DELETE removes it (Read finds nothing); deleting it again succeeds, as the daemon fails a delete on any error, NOT_FOUND included",
    async run(r) {
      const recorded = await r.create(r.config("create"));
      await r.delete("Apply DELETE");
      await r.expectGone("Read after Apply DELETE", recorded);
      await r.delete("Apply DELETE of a resource already deleted", recorded);
    },
  },
  // The client refuses a call whose signal is already aborted before sending
  // it, so this guards the host's side; "deadline" is the check whose calls
  // reach the provider (with the deadline expired and ctx.signal aborted).
  {
    slug: "cancelled",
    name: "cancellation: calls whose caller has already given up fail with CANCELLED, and the create creates nothing",
    async run(r) {
      const controller = new AbortController();
      controller.abort(new DOMException("the caller gave up", "AbortError"));
      await expectRefused(r, { signal: controller.signal }, ErrorCode.CANCELLED, "with a cancelled signal");
    },
  },
  {
    slug: "deadline",
    name: "deadline: calls that arrive past their deadline fail with DEADLINE_EXCEEDED, and the create creates nothing",
    async run(r) {
      await expectRefused(r, { deadline: new Date(Date.now() - 1_000) }, ErrorCode.DEADLINE_EXCEEDED, "past its deadline");
    },
  },
];

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
