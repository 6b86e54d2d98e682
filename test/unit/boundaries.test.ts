// Architecture rules, checked on the source: cloud SDKs live only under
// plugins/, and dependencies point one way (client → daemon entry point only;
// plugins never reach into the daemon or the client; contracts import nothing
// of ours but themselves).
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.js";

const CLOUD_SDK = /^(@aws-sdk\/|@google-cloud\/|@azure\/)/;

/** Every module specifier a source file imports: static, dynamic, re-exports and require(). */
export function importsOf(source: string): string[] {
  const specifiers: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?(?:[\w*{}\s,]+\s+from\s+)?["']([^"']+)["']/g,
    /\bexport\s+(?:type\s+)?[\w*{}\s,]+\s+from\s+["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) if (m[1]) specifiers.push(m[1]);
  return specifiers;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      // dist/: built output (plugins/sdk/dist, written by `npm pack ./plugins/sdk`), not source.
      if (entry.name !== "node_modules" && entry.name !== "dist") out.push(...sourceFiles(path));
    } else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(entry.name)) {
      out.push(path);
    }
  }
  return out;
}

/** `file imports spec` for every import in `dirs` that `bad` flags. */
function violations(dirs: string[], bad: (specifier: string, file: string) => boolean): string[] {
  const found: string[] = [];
  for (const dir of dirs) {
    for (const file of sourceFiles(join(ROOT, dir))) {
      for (const spec of importsOf(readFileSync(file, "utf8"))) {
        if (bad(spec, file)) found.push(`${relative(ROOT, file)} imports ${spec}`);
      }
    }
  }
  return found;
}

/** The top-level folder a relative import from `file` lands in. */
function landsIn(spec: string, file: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  return relative(ROOT, join(file, "..", spec)).split("/")[0];
}

describe("architecture boundaries", () => {
  it("finds every kind of import (so the checks below can fail)", () => {
    const sample = [
      'import { S3Client } from "@aws-sdk/client-s3";',
      'import type { Storage } from "@google-cloud/storage";',
      'export { BlobServiceClient } from "@azure/storage-blob";',
      'const m = await import("@aws-sdk/lib-storage");',
      'const r = require("@azure/identity");',
      'import "@google-cloud/pubsub";',
    ].join("\n");
    expect(importsOf(sample).filter((s) => CLOUD_SDK.test(s))).toHaveLength(6);
  });

  it("the daemon, the client and the contracts never import a cloud SDK", () => {
    expect(violations(["daemon", "client", "proto"], (spec) => CLOUD_SDK.test(spec))).toEqual([]);
  });

  it("the daemon and the client do not depend on a cloud SDK in package.json either", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    expect(Object.keys(pkg.dependencies ?? {}).filter((d) => CLOUD_SDK.test(d))).toEqual([]);
  });

  it("plugins reach only the contracts and the SDK, never the daemon or the client", () => {
    expect(violations(["plugins"], (spec, file) => ["daemon", "client"].includes(landsIn(spec, file) ?? ""))).toEqual([]);
  });

  it("the client reaches the daemon only through its in-process entry point (--no-daemon)", () => {
    expect(
      violations(["client"], (spec, file) => landsIn(spec, file) === "daemon" && !spec.endsWith("daemon/inprocess.js")),
    ).toEqual([]);
    expect(violations(["daemon"], (spec, file) => landsIn(spec, file) === "client")).toEqual([]);
  });

  it("the contracts (proto/) import nothing from the rest of wfctl", () => {
    expect(violations(["proto"], (spec, file) => ["daemon", "client", "plugins"].includes(landsIn(spec, file) ?? ""))).toEqual([]);
  });

  it("no module imports itself through others (no import cycles)", () => {
    const cycles = importCycles(["daemon", "client", "proto", "plugins"]);
    expect(cycles).toEqual([]);
  });

  it("finds an import cycle (so the check above can fail)", () => {
    const graph = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(cyclesIn(graph)).toEqual(["a.ts -> b.ts -> c.ts -> a.ts"]);
  });
});

/** Each cycle of `graph` once, as "a -> b -> a". */
function cyclesIn(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const found = new Set<string>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") {
        const loop = stack.slice(stack.indexOf(next));
        // The same cycle found from another node is rotated: name it from its smallest member.
        const start = loop.indexOf([...loop].sort()[0] as string);
        const rotated = [...loop.slice(start), ...loop.slice(0, start)];
        found.add([...rotated, rotated[0]].join(" -> "));
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return [...found].sort();
}

/** The relative imports between our own TypeScript files, as a graph; its cycles. */
function importCycles(dirs: string[]): string[] {
  const graph = new Map<string, string[]>();
  for (const dir of dirs) {
    for (const file of sourceFiles(join(ROOT, dir)).filter((f) => f.endsWith(".ts") && !f.includes("/gen/"))) {
      const targets = importsOf(readFileSync(file, "utf8"))
        .filter((spec) => spec.startsWith("."))
        .map((spec) => relative(ROOT, join(dirname(file), spec.replace(/\.js$/, ".ts"))));
      graph.set(relative(ROOT, file), targets);
    }
  }
  return cyclesIn(graph);
}

