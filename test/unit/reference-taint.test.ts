// Sensitivity travels through ${} references (issue 17, item 10): a value a
// lookup marks sensitive taints every string it lands in, whole or
// interpolated, however deep in a map or list; the field holding it is then
// sealed in state as a schema-sensitive one is (SealingStore.markSensitive),
// stays sealed when state takes what a provider read, and any field whose
// recorded value is a seal is masked in diffs.
import { describe, expect, it } from "vitest";
import { KNOWN_AFTER_APPLY, type Lookup, SensitiveValue, UNKNOWN, isSensitiveField, resolveReferences, topFields } from "../../daemon/config/references.js";
import { SealingStore, sealedFields } from "../../daemon/engine/sealing.js";
import { MemoryStateStore } from "../../daemon/state/memory.js";
import { diffFields } from "../../proto/fields.js";
import type { JsonValue } from "../../proto/json.js";
import { SEALED_KEY, isSealed, matchesSealed, seal } from "../../proto/sealed.js";
import { RecordStatus, type ResourceState } from "../../proto/state-store.js";

const SECRET = "scrypt$c2FsdA==$ZmluZ2VycHJpbnQ=";

/** Values by expression; `r.secret` and `r.later` are sensitive sources, `r.later` not known yet. */
const lookup: Lookup = async (expression) => {
  const values: Record<string, JsonValue | typeof UNKNOWN | SensitiveValue> = {
    "r.secret": new SensitiveValue(SECRET),
    "r.later": new SensitiveValue(UNKNOWN),
    "r.name": "app",
    "r.port": 5432,
  };
  return values[expression] ?? UNKNOWN;
};

describe("sensitivity through references", () => {
  it("a whole-value reference to a sensitive source taints its field, and keeps the value", async () => {
    const resolved = await resolveReferences({ content: "${r.secret}", path: "${r.name}.txt" }, lookup);
    expect(resolved.config).toEqual({ content: SECRET, path: "app.txt" });
    expect(resolved.sensitive).toEqual([["content"]]);
    expect(resolved.unknown).toEqual([]);
  });

  it("interpolated into a longer string, it taints that string", async () => {
    const resolved = await resolveReferences({ content: "user=${r.name} fingerprint=${ r.secret }; port ${r.port}" }, lookup);
    expect(resolved.config["content"]).toBe(`user=app fingerprint=${SECRET}; port 5432`);
    expect(resolved.sensitive).toEqual([["content"]]);
  });

  it("nested in a map or a list, the path to it is reported, and its top-level field is what is masked and sealed", async () => {
    const resolved = await resolveReferences(
      { env: { DB_FP: "${r.secret}", DB_NAME: "${r.name}" }, args: ["--port=${r.port}", "--fp=${r.secret}", ["${r.secret}"]], plain: "${r.name}" },
      lookup,
    );
    expect(resolved.config).toEqual({ env: { DB_FP: SECRET, DB_NAME: "app" }, args: ["--port=5432", `--fp=${SECRET}`, [SECRET]], plain: "app" });
    expect(resolved.sensitive).toEqual([["env", "DB_FP"], ["args", 1], ["args", 2, 0]]);
    expect(topFields(resolved.sensitive)).toEqual(["args", "env"]);
  });

  it("a sensitive value known only after apply is sensitive all the same", async () => {
    const resolved = await resolveReferences({ content: "fp=${r.later}", other: "${r.later}" }, lookup);
    expect(resolved.config).toEqual({ content: KNOWN_AFTER_APPLY, other: KNOWN_AFTER_APPLY });
    expect(resolved.unknown).toEqual(["content", "other"]);
    expect(topFields(resolved.sensitive)).toEqual(["content", "other"]);
  });

  it("nothing is tainted when no source is sensitive; the same place twice is reported once", async () => {
    expect((await resolveReferences({ a: "${r.name}", b: ["${r.port}"] }, lookup)).sensitive).toEqual([]);
    expect((await resolveReferences({ a: "${r.secret}${r.secret}" }, lookup)).sensitive).toEqual([["a"]]);
  });

  it("a source is sensitive by its schema (top-level field) or by its name, never a *_ref", () => {
    const fields = { password_fingerprint: { type: "string", computed: true, sensitive: true }, creds: { type: "map" }, name: { type: "string" } } as const;
    expect(isSensitiveField(fields, "password_fingerprint")).toBe(true);
    expect(isSensitiveField(fields, "creds.api_token")).toBe(true);
    expect(isSensitiveField(fields, "db_password")).toBe(true);
    expect(isSensitiveField(fields, "name")).toBe(false);
    expect(isSensitiveField(fields, "password_ref")).toBe(false);
  });
});

function record(config: ResourceState["config"]): ResourceState {
  const now = new Date().toISOString();
  return { resourceId: "copy", resourceType: "local.file", provider: "local", status: RecordStatus.ACTIVE, outputs: {}, config, createdAt: now, updatedAt: now, error: "", providerId: "/x", protected: false, dependsOn: [] };
}

describe("sealing tainted fields", () => {
  const ctx = { signal: new AbortController().signal };
  const schema = { path: { type: "string" }, content: { type: "string" } } as const;

  it("a field declared tainted is sealed like a schema-sensitive one, and keeps its seal while unchanged", async () => {
    const inner = new MemoryStateStore();
    const store = new SealingStore(inner, async () => schema);
    store.markSensitive("copy", ["content"]);
    await store.saveState(record({ path: "copy.txt", content: `fp=${SECRET}` }), ctx);
    const stored = (await inner.getState("copy", ctx))?.config ?? {};
    expect(stored["path"]).toBe("copy.txt");
    expect(isSealed(stored["content"])).toBe(true);
    expect(JSON.stringify(stored)).not.toContain(SECRET);
    expect(matchesSealed(`fp=${SECRET}`, stored["content"] as never)).toBe(true);
    await store.saveState(record({ path: "copy.txt", content: `fp=${SECRET}` }), ctx);
    expect((await inner.getState("copy", ctx))?.config["content"]).toEqual(stored["content"]);
  });

  it("without a declaration (state taking what a provider read), what was sealed stays sealed; a declaration without it unseals", async () => {
    const inner = new MemoryStateStore();
    await inner.saveState(record({ path: "copy.txt", content: seal(`fp=${SECRET}`) }), ctx);
    const refreshing = new SealingStore(inner, async () => schema);
    await refreshing.listStates({}, ctx);
    await refreshing.saveState(record({ path: "copy.txt", content: `fp=${SECRET} edited on disk` }), ctx);
    const kept = (await inner.getState("copy", ctx))?.config ?? {};
    expect(sealedFields(kept)).toEqual(["content"]);
    expect(JSON.stringify(kept)).not.toContain(SECRET);
    const applying = new SealingStore(inner, async () => schema);
    applying.markSensitive("copy", []);
    await applying.saveState(record({ path: "copy.txt", content: "no secret any more" }), ctx);
    expect((await inner.getState("copy", ctx))?.config["content"]).toBe("no secret any more");
  });

  it("a diff with a sealed side is sensitive, whatever the schema says", () => {
    const prior = { content: seal(`fp=${SECRET}`), mode: "0644" };
    const diff = diffFields(prior, { content: `fp=${SECRET}\nv2`, mode: "0600" }, { content: { type: "string" }, mode: { type: "string" } });
    expect(diff.map((d) => [d.field, d.sensitive])).toEqual([
      ["content", true],
      ["mode", false],
    ]);
    expect(Object.keys(prior.content)).toEqual([SEALED_KEY]);
  });
});
