// Sealed values: what state keeps of a sensitive field's configured value.
import { describe, expect, it } from "vitest";
import { diffFields } from "../../proto/fields.js";
import { SEALED_KEY, isSealed, matchesSealed, sameConfig, seal, sealFields } from "../../proto/sealed.js";

describe("sealed values", () => {
  it("hold no trace of the value, and match only it", () => {
    const sealed = seal("hunter2");
    expect(isSealed(sealed)).toBe(true);
    expect(JSON.stringify(sealed)).not.toContain("hunter2");
    expect(sealed[SEALED_KEY]).toMatch(/^scrypt\$16384\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(matchesSealed("hunter2", sealed)).toBe(true);
    expect(matchesSealed("hunter3", sealed)).toBe(false);
    expect(matchesSealed(undefined, sealed)).toBe(false);
    // Salted: the same value seals differently each time.
    expect(seal("hunter2")[SEALED_KEY]).not.toBe(sealed[SEALED_KEY]);
    // Structured values seal by their canonical JSON (key order does not matter).
    expect(matchesSealed({ b: 1, a: [true] }, seal({ a: [true], b: 1 }))).toBe(true);
    expect(matchesSealed("x", { [SEALED_KEY]: "scrypt$nonsense" })).toBe(false);
  });

  it("sealFields seals only the sensitive fields, keeping a prior seal while the value is unchanged", () => {
    const first = sealFields({ path: "a.txt", content: "s3cret" }, new Set(["content"]));
    expect(first["path"]).toBe("a.txt");
    expect(isSealed(first["content"])).toBe(true);
    const again = sealFields({ path: "a.txt", content: "s3cret" }, new Set(["content"]), first);
    expect(again["content"]).toEqual(first["content"]);
    const changed = sealFields({ path: "a.txt", content: "other" }, new Set(["content"]), first);
    expect(changed["content"]).not.toEqual(first["content"]);
    expect(sealFields({ path: "a.txt" }, new Set(["content"]))).toEqual({ path: "a.txt" });
  });

  it("diffs and comparisons treat a sealed value as the value it seals", () => {
    const fields = { content: { type: "string", sensitive: true } } as const;
    const prior = sealFields({ content: "s3cret", mode: "0600" }, new Set(["content"]));
    expect(diffFields(prior, { content: "s3cret", mode: "0600" }, fields)).toEqual([]);
    const diff = diffFields(prior, { content: "rotated", mode: "0600" }, fields);
    expect(diff.map((d) => [d.field, d.sensitive])).toEqual([["content", true]]);
    expect(sameConfig(prior, { content: "s3cret", mode: "0600" })).toBe(true);
    expect(sameConfig(prior, { content: "s3cret", mode: "0644" })).toBe(false);
  });
});
