// ${module.field} references: finding them, splitting them, resolving them.
import { describe, expect, it } from "vitest";
import type { JsonValue } from "../../proto/json.js";
import { KNOWN_AFTER_APPLY, type Lookup, UNKNOWN, fieldOfRecord, findReferences, hasReferences, resolveReferences, splitExpression } from "../../daemon/config/references.js";
import { seal } from "../../proto/sealed.js";

describe("references", () => {
  it("are found with where they are; $${ is not one", () => {
    expect(findReferences({ a: "${x.y}", b: ["k", { c: "p-${ z.w }-${q.r}" }], d: "$${lit}", e: 3 })).toEqual([
      { path: ["a"], expression: "x.y" },
      { path: ["b", 1, "c"], expression: "z.w" },
      { path: ["b", 1, "c"], expression: "q.r" },
    ]);
  });

  it("hasReferences says whether there is anything to resolve, escapes included", () => {
    expect(hasReferences({ a: "plain", b: [1, { c: true }] })).toBe(false);
    expect(hasReferences({ b: [{ c: "x ${m.f}" }] })).toBe(true);
    expect(hasReferences({ a: "$${literal}" })).toBe(true);
  });

  it("split on the longest module name, which may hold dots", () => {
    const modules = new Set(["db", "db.primary"]);
    expect(splitExpression("db.primary.host", modules)).toEqual({ module: "db.primary", field: "host" });
    expect(splitExpression("db.port", modules)).toEqual({ module: "db", field: "port" });
    expect(splitExpression("nope.x", modules)).toBeUndefined();
    expect(splitExpression("db", modules)).toBeUndefined();
  });

  it("resolve: a whole-string reference keeps the value's type, inside a string it is text; an unknown part makes the field unknown", async () => {
    const values: Record<string, JsonValue> = { "r.n": 5, "r.list": ["a"], "r.s": "x" };
    const lookup: Lookup = async (e) => values[e] ?? UNKNOWN;
    const { config, unknown } = await resolveReferences(
      { n: "${r.n}", l: "${r.list}", s: "at ${r.s}/${r.n} $${raw}", nested: { deep: ["${r.s}"] }, later: "id=${r.id}", plain: true },
      lookup,
    );
    expect(config).toEqual({ n: 5, l: ["a"], s: "at x/5 ${raw}", nested: { deep: ["x"] }, later: KNOWN_AFTER_APPLY, plain: true });
    expect(unknown).toEqual(["later"]);
  });

  it("a field of a record: outputs first, then configuration; a sealed value or a missing field is refused", () => {
    const record = { resourceId: "db", outputs: { host: "h", nested: { port: 5432 } }, config: { name: "app", password: seal("pw") } };
    expect(fieldOfRecord(record, "host", "db.host")).toBe("h");
    expect(fieldOfRecord(record, "nested.port", "db.nested.port")).toBe(5432);
    expect(fieldOfRecord(record, "name", "db.name")).toBe("app");
    expect(() => fieldOfRecord(record, "password", "db.password")).toThrow(/sensitive configuration, which state keeps sealed/);
    expect(() => fieldOfRecord(record, "port", "db.port")).toThrow(/has no field "port" \(it has: host, name, nested, password\)/);
  });
});
