// The code cache of the client's, the daemon's (its configuration parser's
// thread too) and the local provider's bundles (proto/compile-cache.ts),
// through the real wfctl and the wfctld and local provider it starts: the
// first process writes V8's code for the bundle's chunks into a private
// directory under the runtime directory, later ones load it (and so leave it
// as it is), a cache V8 rejects is replaced, nothing is read or written where
// other users could have put it, and the caches of every build together stay
// under a cap. Each test has a runtime directory of its own (XDG_RUNTIME_DIR)
// and a socket beside it.
import { cpSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { COMPILE_CACHE_MAX_BYTES, compileCacheDir } from "../../proto/compile-cache.js";
import { defaultRuntimeDir } from "../../proto/socket.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { type CliResult, expectExit, runWfctl } from "../helpers/cli.js";
import { QUICKSTART, ROOT, tempDir } from "../helpers/paths.js";
import { waitFor } from "../helpers/processes.js";

let temp: ReturnType<typeof tempDir>;
let runtime: string;
let env: Record<string, string>;
/** The cache file of the main chunk of the bundle in dist/<dir>. */
const mainChunk = (...dir: string[]): string => chunkCache("main", "", ...dir);
/** The cache file of the chunk `prefix`-<hash>.cjs in dist/<dir>, written by an entry with cacheTag `tag` (proto/compile-cache.ts). */
const chunkCache = (prefix: string, tag: string, ...dir: string[]): string => {
  const name = readdirSync(join(ROOT, "dist", ...dir)).find((f) => new RegExp(`^${prefix}-[\\w-]+\\.cjs$`).test(f));
  if (name === undefined) throw new Error(`no ${prefix}-*.cjs in dist/${dir.join("/")}`);
  return `${name}${tag}.v8`;
};
const run = (args: readonly string[], extra: Record<string, string> = {}): Promise<CliResult> => runWfctl(args, { cwd: temp.path, env: { ...env, ...extra } });
/** The cache files and what they hold, by name. */
const caches = (): Map<string, { ino: number; mode: number; bytes: Buffer }> => {
  const dir = compileCacheDir(env);
  if (dir === undefined || !existsSync(dir)) return new Map();
  return new Map(readdirSync(dir).map((name) => [name, { ino: statSync(join(dir, name)).ino, mode: statSync(join(dir, name)).mode & 0o777, bytes: readFileSync(join(dir, name)) }]));
};

beforeEach(() => {
  temp = tempDir("wft-ccache-");
  runtime = join(temp.path, "run");
  mkdirSync(runtime, { mode: 0o700 });
  env = { XDG_RUNTIME_DIR: runtime, WFCTL_SOCKET: join(temp.path, "sock", "wfctld.sock"), WFCTL_NO_COMPILE_CACHE: "" };
});
afterEach(async () => {
  await run(["daemon", "stop"]);
  temp.cleanup();
});

describe("the compile cache", () => {
  it("lives in the daemon's default runtime directory", () => {
    for (const e of [{ XDG_RUNTIME_DIR: "/run/user/1000" }, {}]) {
      expect(compileCacheDir(e)).toBe(join(defaultRuntimeDir(e), "compile-cache", `${process.version}-${process.arch}`));
    }
  });

  it("is written by the first command, private, and then used as it is", async () => {
    expect(caches().size).toBe(0);
    const first = await run(["--version"]);
    expectExit(first, 0);
    expect(first.stdout.trim()).toBe(WFCTL_VERSION);
    const written = caches();
    // The chunks every command loads: main's and start's (a --version loads no command).
    expect([...written.keys()].sort()).toEqual([expect.stringMatching(/^main-[\w-]+\.cjs\.v8$/), expect.stringMatching(/^start-[\w-]+\.cjs\.v8$/)]);
    for (const [name, file] of written) {
      expect(file.mode, name).toBe(0o600);
      expect(file.bytes.length, name).toBeGreaterThan(1_000);
    }
    expect(statSync(compileCacheDir(env) as string).mode & 0o777).toBe(0o700);

    const second = await run(["--version"]);
    expect(second.stdout).toBe(first.stdout);
    // Accepted by V8, so not written again: the same files.
    const after = caches();
    for (const [name, file] of written) expect(after.get(name)?.ino, name).toBe(file.ino);
  });

  it("replaces a cache V8 rejects, and the command runs as without one", async () => {
    expectExit(await run(["--version"]), 0);
    const dir = compileCacheDir(env) as string;
    const [name] = [...caches().keys()].filter((n) => n.startsWith("start-"));
    if (name === undefined) throw new Error("no cache of the start chunk was written");
    const garbage = Buffer.alloc(4_096, 0x5a);
    writeFileSync(join(dir, name), garbage);
    const result = await run(["--version"]);
    expectExit(result, 0);
    expect(result.stdout.trim()).toBe(WFCTL_VERSION);
    const replaced = caches().get(name);
    expect(replaced?.bytes.equals(garbage)).toBe(false);
    expect(replaced?.bytes.length).toBeGreaterThan(1_000);
  });

  it("reaches the in-process engine (an import() the cache cannot serve) with a cache in place", async () => {
    cpSync(QUICKSTART, join(temp.path, "qs"), { recursive: true, filter: (src) => !/[/\\](\.wfctl|out|out-staging)$/.test(src) });
    const plan = ["infra", "plan", "-c", join(temp.path, "qs", "infra.yaml"), "--no-daemon"];
    expectExit(await run(plan), 0);
    expect([...caches().keys()].some((n) => n.startsWith("cli-"))).toBe(true);
    const cached = await run(plan);
    expectExit(cached, 0);
    expect(cached.stdout).toContain("Plan: 3 to create");
  });

  it("is written by a daemon, its configuration parser and its local provider a few seconds after they start, and the next ones start from it", async () => {
    cpSync(QUICKSTART, join(temp.path, "qs"), { recursive: true, filter: (src) => !/[/\\](\.wfctl|out|out-staging)$/.test(src) });
    const plan = ["infra", "plan", "-c", join(temp.path, "qs", "infra.yaml")];
    const daemonMain = mainChunk("daemon-bundle", "chunks");
    // The parser's thread files its caches under names of its own (daemon/config/parse-worker-launch.ts).
    const parser = chunkCache("parse-worker", ".parser", "daemon-bundle", "chunks");
    // A plugin is given no XDG_RUNTIME_DIR (daemon/supervisor/plugin-env.ts): the provider's caches are in <tmpdir>/wfctl-<uid>.
    const providerMain = join(compileCacheDir({}) as string, mainChunk("daemon-bundle", "provider-local"));
    expectExit(await run(plan), 0);
    // Both write them some seconds after they start, without a request (daemon/launch.ts, plugins/provider-local/launch.ts): waited for, not timed.
    await waitFor(() => caches().has(daemonMain) && caches().has(parser) && existsSync(providerMain), 30_000, `the caches ${daemonMain}, ${parser} and ${providerMain}`);
    const written = caches().get(daemonMain)?.ino;
    const parserWritten = caches().get(parser)?.ino;
    expectExit(await run(["daemon", "stop"]), 0);
    const again = await run(plan);
    expectExit(again, 0);
    expect(again.stdout).toContain("Plan: 3 to create");
    // The second daemon took its cache as it was.
    expect(caches().get(daemonMain)?.ino).toBe(written);
    expect(caches().get(parser)?.ino).toBe(parserWritten);
  });

  it("reads and writes nothing in a wfctl runtime directory open to others, or when turned off", async () => {
    mkdirSync(join(runtime, "wfctl"));
    chmodSync(join(runtime, "wfctl"), 0o777);
    expectExit(await run(["--version"]), 0);
    // Nothing made in it, not even a directory.
    expect(readdirSync(join(runtime, "wfctl"))).toEqual([]);
    chmodSync(join(runtime, "wfctl"), 0o700);
    const off = await run(["--version"], { WFCTL_NO_COMPILE_CACHE: "1" });
    expectExit(off, 0);
    expect(off.stdout.trim()).toBe(WFCTL_VERSION);
    expect(caches().size).toBe(0);
    // The same directory, private again and the cache on: written.
    expectExit(await run(["--version"]), 0);
    expect(caches().size).toBe(2);
  });

  it("keeps the caches of every build and Node version under its cap, the oldest going first and never the running build's", async () => {
    const dir = compileCacheDir(env) as string;
    const otherNode = join(dirname(dir), "v0.0.0-x64");
    for (const level of [join(runtime, "wfctl"), dirname(dir), dir, otherNode]) mkdirSync(level, { mode: 0o700 });
    const hoursAgo = (hours: number): Date => new Date(Date.now() - hours * 3_600_000);
    /** A cache file of `mib` MiB (sparse: only its length counts) last written `hours` ago. */
    const file = (path: string, mib: number, hours: number): string => {
      writeFileSync(path, "", { mode: 0o600 });
      truncateSync(path, mib * 2 ** 20);
      utimesSync(path, hoursAgo(hours), hoursAgo(hours));
      return path;
    };
    const capMiB = COMPILE_CACHE_MAX_BYTES / 2 ** 20;
    const otherVersion = file(join(otherNode, "main-0ld0ld00.cjs.v8"), 1, 96);
    const oldest = file(join(dir, "main-AAAAAAAA.cjs.v8"), capMiB / 2, 72);
    const older = file(join(dir, "main-BBBBBBBB.cjs.v8"), capMiB / 2, 48);
    const recent = file(join(dir, "grpc-CCCCCCCC.cjs.v8"), 1, 1);
    const deadWriter = file(join(dir, "cli-DDDDDDDD.cjs.v8.123.tmp"), 1, 1);
    const liveWriter = file(join(dir, "cli-EEEEEEEE.cjs.v8.456.tmp"), 1, 0);

    // Over the cap once this command writes its caches: the oldest go until the rest fit.
    expectExit(await run(["--version"]), 0);
    const own = [...caches().keys()].filter((name) => /^(main|start)-[\w-]+\.cjs\.v8$/.test(name) && !name.startsWith("main-AAAAAAAA") && !name.startsWith("main-BBBBBBBB"));
    expect(own).toHaveLength(2);
    expect(existsSync(otherVersion)).toBe(false);
    expect(existsSync(otherNode), "another Node's emptied directory").toBe(false);
    expect(existsSync(oldest)).toBe(false);
    expect(existsSync(deadWriter)).toBe(false);
    for (const kept of [older, recent, liveWriter]) expect(existsSync(kept), kept).toBe(true);

    // The running build's own cache is kept even when it is the oldest: make it so, and force a write with one missing.
    const [mainCache, startCache] = [own.find((n) => n.startsWith("main-")), own.find((n) => n.startsWith("start-"))].map((n) => join(dir, n ?? "?"));
    utimesSync(mainCache as string, hoursAgo(200), hoursAgo(200));
    rmSync(startCache as string);
    const filler = file(join(dir, "main-FFFFFFFF.cjs.v8"), capMiB / 2, 0);
    expectExit(await run(["--version"]), 0);
    expect(existsSync(mainCache as string), "the running build's main cache").toBe(true);
    expect(existsSync(startCache as string), "its start cache, written again").toBe(true);
    // Then the oldest other, which is enough here.
    expect(existsSync(older)).toBe(false);
    for (const kept of [recent, filler]) expect(existsSync(kept), kept).toBe(true);
  });
});
