// The provider conformance kit's checks (./provider.ts says how they reach
// a provider). Each runs once per resource type, on a resource of its own.
import { type JsonValue, decodeJsonValue } from "../../proto/json.js";
import { validateFields, withDefaults } from "../../proto/fields.js";
import { Action, DriftClass } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { sameValue } from "../../proto/sealed.js";
import { attempt, check, expectCode, rejection } from "./assert.js";
import { GIVE_UP_CODE, type GiveUp, cancelInPlugin, conformanceOperation, operationMetadata } from "./given-up.js";
import { type ProviderCheck, type ResourceUnderTest, problemsText, topField } from "./provider.js";

const NO_CONTROLLER =
  "the kit was not given the plugin's PluginController (ProviderUnderTest.controller), through which it tells the provider an operation was " +
  "cancelled or ran out of time: a call cancelled or past its deadline is answered by the gRPC client, never by the provider, so it cannot " +
  "check the provider's own handling otherwise. startPlugin(...).provider(...) sets it";

/**
 * Plan, Read and Apply CREATE of an operation the plugin was told
 * (CancelOperation) was cancelled or ran out of time, each answered by the
 * provider with the matching code; and the refused create made nothing: the
 * same configuration, created and deleted first, tells Read where to look. (A
 * provider whose ids are not made from the configuration, such as random
 * cloud ids, cannot be caught that way.) The calls are sent on a live
 * connection with a real deadline, so the answers are the provider's.
 */
async function expectRefused(r: ResourceUnderTest, why: GiveUp): Promise<void> {
  const controller = r.controller;
  check(controller !== undefined, `${r.who}: ${NO_CONTROLLER}`);
  const desired = r.config("create");
  const probe = await r.create(desired);
  await r.delete("Apply DELETE");
  await r.expectGone("Read after Apply DELETE", probe);
  r.remember(probe);
  const operationId = conformanceOperation();
  await cancelInPlugin(controller, operationId, why);
  const options = { metadata: operationMetadata(operationId) };
  const how = `in an operation the plugin was told (CancelOperation) ${why === "deadline" ? "ran out of time" : "was cancelled"}`;
  for (const [what, call] of [
    ["Plan", () => r.planCall(desired, undefined, options)],
    ["Read", () => r.readCall(probe, options)],
    ["Apply CREATE", () => r.applyCall(Action.CREATE, desired, undefined, options)],
  ] as const) {
    expectCode(await rejection(call(), `${r.who}: ${what} ${how}`), [GIVE_UP_CODE[why]], `${r.who}: ${what} ${how}`);
  }
  // The provider answered the create: what it did is done.
  await r.expectGone(`Read after an Apply CREATE ${how} (a refused create must create nothing)`, probe);
}

/** The config-drift check: the resource changed behind the provider's back, seen, planned and put right. */
async function expectConfigDrift(r: ResourceUnderTest): Promise<void> {
  const change = r.fixture.outOfBandChange;
  check(change !== undefined, `${r.who}: the fixture has no outOfBandChange`);
  const desired = r.config("create");
  const recorded = await r.create(desired);
  const { field, actual } = await change(r.created(recorded));
  const spec = r.fields[field];
  check(spec !== undefined && !spec.computed && !spec.forceNew, `${r.who}: outOfBandChange changed "${field}": it must name a settable field that is not force_new`);
  const expected = recorded.config[field];
  check(!sameValue(expected, actual), `${r.who}: outOfBandChange says "${field}" is now ${r.shown(field, actual)}, which is what was applied`);
  const what = `after outOfBandChange of "${field}"`;

  const observed = await attempt(`${r.who}: Read ${what}`, r.readCall(recorded));
  check(observed.found, `${r.who}: Read ${what}: found=false, but the resource exists`);
  const read = decodeJsonValue(observed.configJson, `${r.who}: Read ${what}: config_json`) as Record<string, JsonValue>;
  check(sameValue(read[field], actual), `${r.who}: Read ${what} reports ${r.shown(field, read[field])}, not the value the resource has now, ${r.shown(field, actual)}`);
  await expectConfigDriftOf(r, field, expected, actual, what);

  // The daemon plans against what Read observes: putting the field back is an update of it.
  const refreshed = { providerId: recorded.providerId, config: read, outputs: recorded.outputs };
  const plan = await r.expectPlan(desired, refreshed, Action.UPDATE, `Plan ${what}, against what Read observes`);
  const listed = plan.changes.map((c) => topField(c.field));
  check(listed.includes(field), `${r.who}: the Plan ${what} must list "${field}" (it lists: ${listed.join(", ") || "none"})`);
  r.recorded = refreshed;
  await r.update(desired);
  await r.expectFound(`Read after Apply UPDATE put "${field}" back`);
  await r.expectDrift(DriftClass.IN_SYNC, `DetectDrift after Apply UPDATE put "${field}" back`);
}

/** DetectDrift, when served, says CONFIG and names `field` with the value applied and the value now (a sensitive field's values are not compared). */
async function expectConfigDriftOf(r: ResourceUnderTest, field: string, expected: JsonValue | undefined, actual: JsonValue, what: string): Promise<void> {
  const result = await r.expectDrift(DriftClass.CONFIG, `DetectDrift ${what}`);
  if (!result) return;
  const named = result.fields.find((f) => topField(f.field) === field);
  const fields = result.fields.map((f) => f.field).join(", ") || "none";
  check(named !== undefined, `${r.who}: DetectDrift ${what} must name "${field}" among the fields that drifted (it names: ${fields})`);
  if (r.fields[field]?.sensitive || named.field !== field) return;
  const value = (bytes: Uint8Array, which: string) => (bytes.byteLength > 0 ? decodeJsonValue(bytes, `${r.who}: DetectDrift ${what}: ${which}`) : undefined);
  const [was, now] = [value(named.expectedJson, "expected_json"), value(named.actualJson, "actual_json")];
  check(sameValue(was, expected), `${r.who}: DetectDrift ${what}: "${field}" expected must be the value applied, ${r.shown(field, expected)}; got ${r.shown(field, was)}`);
  check(sameValue(now, actual), `${r.who}: DetectDrift ${what}: "${field}" actual must be the value now, ${r.shown(field, actual)}; got ${r.shown(field, now)}`);
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
      await r.fixture.outOfBandDelete(r.created(recorded));
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
  {
    slug: "config-drift",
    name: "config-drift: after outOfBandChange, Read reports the new value and DetectDrift CONFIG naming the field (expected and actual); Plan says UPDATE, and after Apply UPDATE it is in sync",
    appliesTo: (fixture) => fixture.outOfBandChange !== undefined,
    run: expectConfigDrift,
  },
  {
    slug: "cancelled",
    name: "cancellation: calls of an operation the plugin was told is cancelled fail with CANCELLED from the provider, and the create creates nothing",
    run: (r) => expectRefused(r, "cancelled"),
  },
  {
    slug: "deadline",
    name: "deadline: calls of an operation the plugin was told ran out of time fail with DEADLINE_EXCEEDED from the provider, and the create creates nothing",
    run: (r) => expectRefused(r, "deadline"),
  },
];
