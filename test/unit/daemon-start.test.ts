// What a daemon loads before it listens: the built bundle's entry and the
// chunks it and main.ts's chunk require as they load. The plugin boundary's
// gRPC code (grpc-js and proto/grpc.ts) is not among them:
// daemon/supervisor/grpc.ts loads it with the first plugin, which took 40 ms
// off every daemon's start (the first command of each CI job waits for it).
// Nor is pg: the postgres backend loads it with the first postgres store
// (60 ms more, Node's fetch included, which pg loads at once;
// test/e2e/start-cost.test.ts checks what is loaded).
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.js";

const BUNDLE = join(ROOT, "dist", "daemon-bundle");
const CHUNKS = join(BUNDLE, "chunks");
/** The module comment the bundler writes above grpc-js's code (its path relative to the checkout, node_modules wherever it is). */
const GRPC_JS = /^\/\/ (.*\/)?node_modules\/@grpc\/grpc-js\//m;
/** The comments above the code of pg and its packages (pg-pool, pg-protocol, …). */
const PG = /^\/\/ (.*\/)?node_modules\/pg(-[a-z-]+)?\//m;

/** The bundle files `file` requires as it loads (a require at the start of a line: not one inside a function), transitively. */
function staticClosure(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(file, "utf8");
  for (const m of source.matchAll(/^(?:(?:const|let|var) \w+ = )?require\("(\.{1,2}\/[^"]+)"\)/gm)) staticClosure(join(dirname(file), m[1]!), seen);
  return seen;
}

/** What a daemon loads before it listens: the entry, and main.ts's chunk, which the entry requires once the compile cache is on (daemon/launch.ts). */
function loadedAtStart(): { files: Set<string>; main: string } {
  const entry = join(BUNDLE, "wfctld.cjs");
  const main = /require\("\.\/(chunks\/main-[\w-]+\.cjs)"\)/.exec(readFileSync(entry, "utf8"))?.[1];
  if (main === undefined) throw new Error(`${entry} requires no chunks/main-*.cjs`);
  return { files: new Set([...staticClosure(entry), ...staticClosure(join(BUNDLE, main))]), main: join(BUNDLE, main) };
}

/** The one chunk whose code matches `marker`, after checking that the main chunk requires it only when called (inside a function). */
function loadedLater(marker: RegExp, main: string): string {
  const chunks = readdirSync(CHUNKS).map((name) => join(CHUNKS, name)).filter((file) => marker.test(readFileSync(file, "utf8")));
  expect(chunks.length).toBe(1);
  const name = chunks[0]!.slice(chunks[0]!.lastIndexOf("/") + 1);
  expect(readFileSync(main, "utf8")).toMatch(new RegExp(`Promise\\.resolve\\(\\)\\.then\\(\\(\\) => require\\("\\./${name.replace(/[.-]/g, "\\$&")}"\\)\\)`));
  return chunks[0]!;
}

describe("the daemon's start", () => {
  it("loads no gRPC code before it listens; the chunk a plugin's start loads has it", () => {
    const { files, main } = loadedAtStart();
    expect(files.size).toBeGreaterThan(3); // the entry's and main's shared chunks are found, so the walk works
    expect([...files].filter((file) => GRPC_JS.test(readFileSync(file, "utf8")))).toEqual([]);
    expect(files).not.toContain(loadedLater(GRPC_JS, main));
  });

  it("loads no pg before it listens; the chunk the first postgres store loads has it", () => {
    const { files, main } = loadedAtStart();
    expect([...files].filter((file) => PG.test(readFileSync(file, "utf8")))).toEqual([]);
    expect(files).not.toContain(loadedLater(/^\/\/ (.*\/)?node_modules\/pg\/lib\/client\.js$/m, main));
  });
});
