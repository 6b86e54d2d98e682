import { describe, expect, it } from "vitest";
import { type FieldMap, diffFields, validateFields, withDefaults } from "../../proto/fields.js";
import { classifyDrift, planFromSchema } from "../../plugins/sdk/provider.js";

const FIELDS: FieldMap = {
  path: { type: "string", required: true, forceNew: true },
  content: { type: "string", default: "" },
  mode: { type: "string", default: "0644" },
  password: { type: "string", sensitive: true },
  size: { type: "number", computed: true },
};

describe("field validation", () => {
  it("accepts a valid configuration", () => {
    expect(validateFields({ path: "a", content: "x" }, FIELDS)).toEqual([]);
  });

  it("names unknown, missing, computed and wrongly typed fields", () => {
    const problems = validateFields({ contnet: "x", size: 3, mode: 644 }, FIELDS);
    expect(problems).toEqual(
      expect.arrayContaining([
        { field: "contnet", message: expect.stringContaining("is unknown") },
        { field: "size", message: "is computed by the provider and cannot be set" },
        { field: "mode", message: "must be a string, got a number" },
        { field: "path", message: "is required" },
      ]),
    );
  });

  it("fills defaults for omitted fields only", () => {
    expect(withDefaults({ path: "a", content: "x" }, FIELDS)).toEqual({ path: "a", content: "x", mode: "0644" });
  });
});

describe("field diff", () => {
  it("reports changed settable fields, never computed ones, with force-new and sensitive marks", () => {
    const before = { path: "a", content: "old", mode: "0644", password: "p1", size: 3 };
    const after = { path: "b", content: "new", mode: "0644", password: "p2", size: 9 };
    expect(diffFields(before, after, FIELDS)).toEqual([
      { field: "content", before: "old", after: "new", forcesReplace: false, sensitive: false },
      { field: "password", before: "p1", after: "p2", forcesReplace: false, sensitive: true },
      { field: "path", before: "a", after: "b", forcesReplace: true, sensitive: false },
    ]);
  });

  it("compares nested values by content, not by key order", () => {
    expect(diffFields({ tags: { a: 1, b: [1, 2] } }, { tags: { b: [1, 2], a: 1 } }, {})).toEqual([]);
    expect(diffFields({ tags: { a: 1 } }, { tags: { a: 2 } }, {})).toHaveLength(1);
  });
});

describe("the SDK's schema-driven plan and drift classification", () => {
  const prior = { providerId: "/r/a", config: { path: "a", content: "x", mode: "0644" }, outputs: {} };

  it("plans create, noop, update and replace", () => {
    expect(planFromSchema({ path: "a" }, undefined, FIELDS).action).toBe("create");
    expect(planFromSchema({ path: "a", content: "x" }, prior, FIELDS).action).toBe("noop");
    expect(planFromSchema({ path: "a", content: "y" }, prior, FIELDS).action).toBe("update");
    expect(planFromSchema({ path: "b", content: "x" }, prior, FIELDS).action).toBe("replace");
  });

  it("classifies ghost, in-sync and config drift with expected and actual values", () => {
    expect(classifyDrift(prior, { found: false }, FIELDS)).toEqual({ class: "ghost", drifted: true, fields: [] });
    expect(classifyDrift(prior, { found: true, config: { ...prior.config } }, FIELDS).class).toBe("in-sync");
    expect(classifyDrift(prior, { found: true, config: { ...prior.config, mode: "0600" } }, FIELDS)).toEqual({
      class: "config",
      drifted: true,
      fields: [{ field: "mode", expected: "0644", actual: "0600" }],
    });
  });
});
