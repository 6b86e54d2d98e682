// The host settles what seals made differ: a plugin compares a sealed prior
// value as it would any value (so it differs), and the host drops each plan
// change and drift field whose recorded side is a seal matching the other
// side, then recomputes the action or the drift class from what is left.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Action,
  DriftClass,
  DriftResultSchema,
  type FieldChange,
  type FieldChangeSchema,
  PlanResourceResponseSchema,
} from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, type JsonValue, encodeJson } from "../../proto/json.js";
import { sealFields } from "../../proto/sealed.js";
import { settleDriftSeals, settlePlanSeals } from "../../proto/sealed-compare.js";

const json = (value: JsonValue | undefined) => (value === undefined ? new Uint8Array() : encodeJson(value));

/** A change as a plugin that compares plainly reports it: before is what the prior held (here, a seal). */
function change(field: string, before: JsonValue | undefined, after: JsonValue | undefined, forcesReplace = false): MessageInitShape<typeof FieldChangeSchema> {
  return { field, beforeJson: json(before), afterJson: json(after), forcesReplace };
}

function plan(action: Action, changes: MessageInitShape<typeof FieldChangeSchema>[]) {
  return create(PlanResourceResponseSchema, { action, changes });
}

const fields = (response: { changes: FieldChange[] }) => response.changes.map((c) => c.field);

describe("settlePlanSeals", () => {
  const prior: JsonObject = sealFields({ path: "a.txt", content: "s3cret", tags: { env: "prod" }, mode: "0600" }, new Set(["content", "tags"]));

  it("drops a change of a sealed field whose desired value is the one sealed, and an update left with nothing becomes a NOOP", async () => {
    const desired = { path: "a.txt", content: "s3cret", tags: { env: "prod" }, mode: "0600" };
    const settled = await settlePlanSeals(plan(Action.UPDATE, [change("content", prior["content"], "s3cret")]), prior, desired);
    expect(settled.action).toBe(Action.NOOP);
    expect(settled.changes).toEqual([]);
  });

  it("keeps a change of a sealed field whose value changed, and every change of a plain field", async () => {
    const desired = { path: "a.txt", content: "rotated", tags: { env: "prod" }, mode: "0644" };
    const answer = plan(Action.UPDATE, [change("content", prior["content"], "rotated"), change("mode", "0600", "0644")]);
    const settled = await settlePlanSeals(answer, prior, desired);
    expect(settled.action).toBe(Action.UPDATE);
    expect(fields(settled)).toEqual(["content", "mode"]);
  });

  it("drops a nested change under a sealed top-level value that still matches as a whole", async () => {
    const desired = { path: "a.txt", content: "rotated", tags: { env: "prod" }, mode: "0600" };
    const answer = plan(Action.UPDATE, [change("tags.env", undefined, "prod"), change("content", prior["content"], "rotated")]);
    expect(fields(await settlePlanSeals(answer, prior, desired))).toEqual(["content"]);
  });

  it("a replace forced only by a matching sealed field becomes an update of what else changed, or a NOOP", async () => {
    const desired = { path: "a.txt", content: "s3cret", tags: { env: "prod" }, mode: "0644" };
    const forcedBySeal = plan(Action.REPLACE, [change("content", prior["content"], "s3cret", true), change("mode", "0600", "0644")]);
    const settled = await settlePlanSeals(forcedBySeal, prior, desired);
    expect(settled.action).toBe(Action.UPDATE);
    expect(fields(settled)).toEqual(["mode"]);
    const onlyTheSeal = plan(Action.REPLACE, [change("content", prior["content"], "s3cret", true)]);
    expect((await settlePlanSeals(onlyTheSeal, prior, desired)).action).toBe(Action.NOOP);
  });

  it("a replace forced by a plain field stays a replace, and an answer with nothing sealed is returned as it is", async () => {
    const desired = { path: "b.txt", content: "s3cret", tags: { env: "prod" }, mode: "0600" };
    const answer = plan(Action.REPLACE, [change("path", "a.txt", "b.txt", true), change("content", prior["content"], "s3cret")]);
    const settled = await settlePlanSeals(answer, prior, desired);
    expect(settled.action).toBe(Action.REPLACE);
    expect(fields(settled)).toEqual(["path"]);
    const plain = plan(Action.UPDATE, [change("mode", "0600", "0644")]);
    expect(await settlePlanSeals(plain, prior, { ...desired, mode: "0644" })).toBe(plain);
    // A create has no prior: nothing to settle.
    const created = plan(Action.CREATE, [change("content", undefined, "s3cret")]);
    expect(await settlePlanSeals(created, undefined, desired)).toBe(created);
  });

  it("a sealed field removed from the configuration stays a change", async () => {
    const answer = plan(Action.UPDATE, [change("content", prior["content"], undefined)]);
    const settled = await settlePlanSeals(answer, prior, { path: "a.txt", tags: { env: "prod" }, mode: "0600" });
    expect(settled.action).toBe(Action.UPDATE);
    expect(fields(settled)).toEqual(["content"]);
  });
});

describe("settleDriftSeals", () => {
  const prior: JsonObject = sealFields({ path: "a.txt", content: "s3cret", tags: { env: "prod" } }, new Set(["content", "tags"]));
  const drift = (klass: DriftClass, found: [string, JsonValue][]) =>
    create(DriftResultSchema, { class: klass, drifted: true, fields: found.map(([field, actual]) => ({ field, expectedJson: json(prior[field.split(".")[0] ?? field]), actualJson: json(actual) })) });

  it("a sealed field whose actual value is the one sealed is not drift: CONFIG with nothing else becomes IN_SYNC", async () => {
    const settled = await settleDriftSeals(drift(DriftClass.CONFIG, [["content", "s3cret"]]), prior);
    expect(settled).toMatchObject({ class: DriftClass.IN_SYNC, drifted: false, fields: [] });
  });

  it("keeps real drift: a sealed field that changed, a plain field, and a nested field it cannot judge", async () => {
    const changed = await settleDriftSeals(drift(DriftClass.CONFIG, [["content", "edited"]]), prior);
    expect(changed).toMatchObject({ class: DriftClass.CONFIG, drifted: true });
    expect(changed?.fields.map((f) => f.field)).toEqual(["content"]);
    const mixed = await settleDriftSeals(drift(DriftClass.CONFIG, [["content", "s3cret"], ["path", "b.txt"], ["tags.env", "prod"]]), prior);
    expect(mixed).toMatchObject({ class: DriftClass.CONFIG, drifted: true });
    expect(mixed?.fields.map((f) => f.field)).toEqual(["path", "tags.env"]);
  });

  it("a detector that does not classify is told not drifted; a ghost and an absent result pass through", async () => {
    expect(await settleDriftSeals(drift(DriftClass.UNKNOWN, [["content", "s3cret"]]), prior)).toMatchObject({ class: DriftClass.UNKNOWN, drifted: false });
    const ghost = create(DriftResultSchema, { class: DriftClass.GHOST, drifted: true });
    expect(await settleDriftSeals(ghost, prior)).toBe(ghost);
    expect(await settleDriftSeals(undefined, prior)).toBeUndefined();
  });
});
