// What a daemon loads before it listens: the built bundle's entry and the
// chunks it imports statically. The plugin boundary's gRPC code (grpc-js and
// proto/grpc.ts) is not among them: daemon/supervisor/grpc.ts loads it with
// the first plugin, which took 40 ms off every daemon's start (the first
// command of each CI job waits for it). Nor is pg: the postgres backend
// loads it with the first postgres store (60 ms more, Node's fetch included,
// which pg loads at once; test/e2e/start-cost.test.ts checks what is loaded).
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.js";

const BUNDLE = join(ROOT, "dist", "daemon-bundle");
/** The module comment the bundler writes above grpc-js's code (its path relative to the checkout, node_modules wherever it is). */
const GRPC_JS = /^\/\/ (.*\/)?node_modules\/@grpc\/grpc-js\//m;
/** The comments above the code of pg and its packages (pg-pool, pg-protocol, …). */
const PG = /^\/\/ (.*\/)?node_modules\/pg(-[a-z-]+)?\//m;

/** `file` and every bundle file it imports statically (import … from, import "…"), transitively. */
function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(file, "utf8");
  for (const m of source.matchAll(/^import\s+(?:[^;"']*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/gm)) staticClosure(join(dirname(file), m[1]!), seen);
  return seen;
}

describe("the daemon's start", () => {
  it("loads no gRPC code before it listens; the chunk a plugin's start loads has it", () => {
    const atStart = staticClosure(join(BUNDLE, "wfctld.js"));
    expect(atStart.size).toBeGreaterThan(1); // the entry's shared chunk is found, so the walk works
    expect([...atStart].filter((file) => GRPC_JS.test(readFileSync(file, "utf8")))).toEqual([]);
    const chunks = readdirSync(join(BUNDLE, "chunks")).map((name) => join(BUNDLE, "chunks", name));
    const grpc = chunks.filter((file) => GRPC_JS.test(readFileSync(file, "utf8")));
    expect(grpc.length).toBe(1);
    expect(readFileSync(join(BUNDLE, "wfctld.js"), "utf8")).toContain(`import("./chunks/${grpc[0]!.slice(grpc[0]!.lastIndexOf("/") + 1)}")`);
  });

  it("loads no pg before it listens; the chunk the first postgres store loads has it", () => {
    const atStart = staticClosure(join(BUNDLE, "wfctld.js"));
    expect([...atStart].filter((file) => PG.test(readFileSync(file, "utf8")))).toEqual([]);
    const chunks = readdirSync(join(BUNDLE, "chunks")).map((name) => join(BUNDLE, "chunks", name));
    const pg = chunks.filter((file) => /^\/\/ (.*\/)?node_modules\/pg\/lib\/client\.js$/m.test(readFileSync(file, "utf8")));
    expect(pg.length).toBe(1);
    expect(readFileSync(join(BUNDLE, "wfctld.js"), "utf8")).toContain(`import("./chunks/${pg[0]!.slice(pg[0]!.lastIndexOf("/") + 1)}")`);
  });
});
