// The bundles' descriptors are decoded at build time (proto/descriptor-
// literals.mjs) and registered at run time by proto/file-desc.ts: every
// generated module's, and protobuf-es's own well-known types', must come out
// exactly as protobuf-es's fileDesc makes them from the base64: the same
// FileDescriptorProto objects (own properties, their order, the defaults
// their prototypes hold) and the same registered descriptors. And no bundle
// may decode one at run time.
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { DescFile } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { describe, expect, it } from "vitest";
import { FILE_DESC_CALL, descriptorLiteral, descriptorLiterals } from "../../proto/descriptor-literals.mjs";
import { fileDescDecoded } from "../../proto/file-desc.js";
import { ROOT } from "../helpers/paths.js";

/** Every .js file under `dir`. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".js") || f.endsWith(".mjs") || f.endsWith(".cjs"))
    .map((f) => join(dir, f));
}

/** protobuf-es's well-known types as the bundles take them: its ESM build, beside the CommonJS one `require` finds. */
const WKT = join(dirname(createRequire(import.meta.url).resolve("@bufbuild/protobuf")), "..", "esm", "wkt", "gen", "google", "protobuf");
/** The modules that describe a file with fileDesc: wfctl's generated code as built, and protobuf-es's well-known types. */
const GENERATED = [...jsFiles(join(ROOT, "dist", "proto", "gen")), ...jsFiles(WKT)].filter((f) => f.endsWith("_pb.js") && readFileSync(f, "utf8").includes("fileDesc("));

/** A value with what fileDesc's objects carry made comparable: own properties in order, and the prototype's defaults. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value instanceof Uint8Array) return { bytes: [...value] };
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return value;
  const prototype: unknown = Object.getPrototypeOf(value);
  const record = value as Record<string, unknown>;
  return {
    own: Object.keys(record).map((key) => [key, shape(record[key])]),
    defaults: prototype === Object.prototype ? null : Object.entries(prototype as object),
  };
}

/** A registered descriptor's properties, another descriptor named rather than followed (they point at each other). */
function project(desc: object, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(desc)) {
    if (key === "proto" || key === "file" || key === "parent" || typeof value === "function") continue;
    if (Array.isArray(value)) out[key] = value.map((v: unknown) => (v !== null && typeof v === "object" ? (depth === 0 ? project(v) : label(v)) : v));
    else if (value !== null && typeof value === "object") out[key] = label(value);
    else out[key] = typeof value === "bigint" ? `${value}n` : value;
  }
  return out;
}
function label(desc: object): string {
  const d = desc as { kind?: unknown; typeName?: unknown; name?: unknown };
  return `${String(d.kind)}:${String(d.typeName ?? d.name)}`;
}
function described(file: DescFile): unknown {
  return [...nestedTypes(file)].map((desc) => project(desc));
}

/** The file a generated module exports (protobuf-es's fileDesc made it), its base64 and its imports. */
async function generated(path: string): Promise<{ file: DescFile; b64: string }> {
  const exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const files = Object.values(exports).filter((v): v is DescFile => typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "file");
  expect(files, path).toHaveLength(1);
  const calls = [...readFileSync(path, "utf8").matchAll(FILE_DESC_CALL)];
  expect(calls, path).toHaveLength(1);
  return { file: files[0]!, b64: calls[0]![1]! };
}

describe("descriptors decoded at build time", () => {
  it("finds the generated modules: wfctl's and the well-known types'", () => {
    const names = GENERATED.map((f) => f.slice(f.lastIndexOf("/") + 1));
    expect(names).toEqual(expect.arrayContaining(["daemon_pb.js", "provider_pb.js", "state_pb.js", "errors_pb.js", "plugin_pb.js", "health_pb.js", "timestamp_pb.js", "struct_pb.js"]));
  });

  it.each(GENERATED.map((f) => [f.slice(ROOT.length + 1), f]))("%s: the same FileDescriptorProto and the same registered descriptors as fileDesc", async (_, path) => {
    const { file, b64 } = await generated(path);
    const root = new Function(`return ${descriptorLiteral(b64)}`)() as Parameters<typeof fileDescDecoded>[0];
    const decoded = fileDescDecoded(root, file.dependencies);
    expect(shape(decoded.proto)).toEqual(shape(file.proto));
    expect(described(decoded)).toEqual(described(file));
    expect(decoded.dependencies.map((d) => d.name)).toEqual(file.dependencies.map((d) => d.name));
  });

  it("rewrites a generated module's calls, leaves other modules alone, and fails the build on a call it cannot read", () => {
    const plugin = descriptorLiterals("/helper/file-desc.js");
    const b64 = [...readFileSync(GENERATED.find((f) => f.endsWith("daemon_pb.js"))!, "utf8").matchAll(FILE_DESC_CALL)][0]![1]!;
    const out = plugin.transform(`import { fileDesc } from "x";\nexport const f = fileDesc("${b64}", [a, b]);\n`, "/p/daemon_pb.js");
    expect(out?.code).toMatch(/^import \{ fileDescDecoded as __wfctlFileDescDecoded \} from "\/helper\/file-desc\.js";/);
    expect(out?.code).toContain(", [a, b])");
    expect(out?.code).not.toMatch(/\bfileDesc\(/);
    expect(plugin.transform(`export const f = fileDesc("${b64}");`, "/p/other.js")).toBeNull();
    expect(() => plugin.transform("export const f = fileDesc(encoded);", "/p/x_pb.js")).toThrow(/x_pb\.js calls fileDesc in a form/);
  });

  it("leaves no bundle decoding a descriptor, or building descriptor.proto's, at run time", () => {
    const bundles = [...jsFiles(join(ROOT, "dist", "bundle")), ...jsFiles(join(ROOT, "dist", "daemon-bundle"))];
    expect(bundles.length).toBeGreaterThan(3);
    const decoding = bundles.filter((f) => /\bfileDesc\("|\bboot\(\{/.test(readFileSync(f, "utf8")));
    expect(decoding).toEqual([]);
    // The rewritten calls are there (the check above is not passing on bundles without descriptors).
    const decoded = bundles.filter((f) => /filedescdecoded\(/i.test(readFileSync(f, "utf8")));
    expect(decoded.length).toBeGreaterThanOrEqual(2);
  });
});
