// A V8 code cache for wfctl's bundles (the client's, the daemon's and its
// configuration parser's, the local provider's): what Node 22's
// module.enableCompileCache() does, which Node 20 lacks. Every process used
// to compile its bundle's chunks (600 KB for a command, 1.5 MB for a daemon)
// and then each function it ran. Now the first process to run a chunk writes
// V8's code for it, taken late (at exit, or a few seconds after a long-lived
// process starts) so that the functions it compiled lazily are in, and later
// processes load it instead of compiling.
//
// - Only the bundle's own chunks are served, each cached under its file name,
//   which carries a hash of its content (client/bundle.mjs, daemon/bundle.mjs).
//   A chunk with a dynamic import() is compiled as usual: Node 20 loses a
//   script's import() callback when its code comes from a cache.
// - V8 checks a cache against its version, its flags and the length of the
//   source, and rejects one that does not fit; a rejected cache is compiled
//   as usual and written again.
// - The caches live in the per-user runtime directory, used only when it and
//   the directories under it are the user's own and closed to everyone else:
//   code read from there runs as the user.
// - The caches of every wfctl build and Node version on the machine share one
//   directory (often a tmpfs), kept under COMPILE_CACHE_MAX_BYTES: a process
//   (or the parser's thread) that writes caches (rare: a build's first runs)
//   then removes the least recently written ones of other chunks beyond that,
//   and temp files left by a process that died while writing.
// - Nothing here fails a process: an unreadable or unwritable cache means
//   Node compiles as it would without one. WFCTL_NO_COMPILE_CACHE=1 turns it off.
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";

/** Set (to anything but "" or "0"), wfctl and wfctld compile their chunks without a cache. */
export const NO_COMPILE_CACHE_ENV = "WFCTL_NO_COMPILE_CACHE";

/**
 * What the caches of all builds and Node versions may take together: the
 * caches of one build's client, daemon and local provider take about 4 MB,
 * so the last dozen or so builds in use keep theirs. One evicted is written
 * again by the next process that runs its chunk.
 */
export const COMPILE_CACHE_MAX_BYTES = 48 * 2 ** 20;
/** A temp file older than this was left by a writer that died (a write takes milliseconds). */
const STALE_TEMP_MS = 10 * 60_000;

/** What Node's CommonJS loader calls to compile and run a module's source. */
interface CompilingModule {
  exports: unknown;
  _compile(content: string, filename: string): unknown;
}
type ModuleWrapper = (exports: unknown, require: NodeJS.Require, module: CompilingModule, filename: string, dirname: string) => unknown;

/**
 * Where this Node keeps the caches: <runtime dir>/compile-cache/<node
 * version>-<arch>. The runtime directory is the daemon socket's default one
 * (defaultRuntimeDir in proto/socket.ts; a test holds the two together),
 * computed here so that the bundle's entry loads none of the chunks it caches.
 */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const xdg = env["XDG_RUNTIME_DIR"];
  const runtime = xdg ? join(xdg, "wfctl") : join(tmpdir(), `wfctl-${uid}`);
  return join(runtime, "compile-cache", `${process.version}-${process.arch}`);
}

/** The runtime directory, the compile-cache directory in it and this Node's under that: `dir` and the two above it, outermost first. */
function levels(dir: string): string[] {
  return [dirname(dirname(dir)), dirname(dir), dir];
}

/** True when `dir` is a directory of this user's (not a link), closed to group and others. */
function isPrivate(dir: string): boolean {
  try {
    const stats = lstatSync(dir);
    return stats.isDirectory() && stats.uid === process.getuid?.() && (stats.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/**
 * Makes each level of `dir` that is missing (private), outermost first, and
 * checks each before going into it: nothing is made inside a directory that
 * is not the user's own and private. True when all of them are.
 */
function makePrivate(dir: string): boolean {
  return levels(dir).every((level) => {
    try {
      mkdirSync(level, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return false;
    }
    return isPrivate(level);
  });
}

/** Runs `action`, ignoring a failure: a cache that cannot be read is compiled, and a file another process removed first is gone. */
function ignoringFailure<T>(action: () => T): T | undefined {
  try {
    return action();
  } catch {
    return undefined;
  }
}

function readIfPresent(file: string): Buffer | undefined {
  return ignoringFailure(() => readFileSync(file));
}

/** Writes each script's code cache to its file (whole or not at all: temp file, then rename), and forgets them; then prunes. */
function writeCaches(dir: string, scripts: Map<string, Script>, ownCaches: ReadonlySet<string>): void {
  if (scripts.size === 0 || !makePrivate(dir)) return;
  const now = [...scripts];
  scripts.clear();
  for (const [file, script] of now) {
    // Threads of one process (the daemon and its configuration parsers) may write at once (node:worker_threads'
    // threadId would cost every command a module load).
    const temp = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
    try {
      writeFileSync(temp, script.createCachedData(), { mode: 0o600 });
      renameSync(temp, file);
    } catch {
      rmSync(temp, { force: true });
    }
  }
  pruneCaches(dir, ownCaches);
}

/** A file of the cache directory of one Node version. */
interface CacheFile {
  path: string;
  bytes: number;
  writtenMs: number;
}

/** The regular files in each Node version's directory under `root`, by directory (links and anything else are left alone). */
function listCaches(root: string): Map<string, CacheFile[]> {
  const byDir = new Map<string, CacheFile[]>();
  for (const version of ignoringFailure(() => readdirSync(root)) ?? []) {
    const dir = join(root, version);
    if (!isPrivate(dir)) continue;
    const files: CacheFile[] = [];
    for (const name of ignoringFailure(() => readdirSync(dir)) ?? []) {
      const stats = ignoringFailure(() => lstatSync(join(dir, name)));
      if (stats?.isFile()) files.push({ path: join(dir, name), bytes: stats.size, writtenMs: stats.mtimeMs });
    }
    byDir.set(dir, files);
  }
  return byDir;
}

/**
 * Keeps the compile-cache directory above `dir` (this Node's, beside those of
 * other Node versions) under COMPILE_CACHE_MAX_BYTES: removes the temp files of writers
 * that died, then the least recently written caches until the rest fit,
 * never one of `keep` (the chunks this process loaded), and the
 * directories of other Node versions left empty. Never throws: a file another
 * process removed first is simply gone.
 */
function pruneCaches(dir: string, keep: ReadonlySet<string>): void {
  const now = Date.now();
  const byDir = listCaches(dirname(dir));
  const caches: CacheFile[] = [];
  for (const files of byDir.values()) {
    for (const file of files) {
      if (!file.path.endsWith(".tmp")) caches.push(file);
      else if (now - file.writtenMs > STALE_TEMP_MS) ignoringFailure(() => rmSync(file.path, { force: true }));
    }
  }
  let total = caches.reduce((sum, file) => sum + file.bytes, 0);
  for (const file of caches.sort((a, b) => a.writtenMs - b.writtenMs)) {
    if (total <= COMPILE_CACHE_MAX_BYTES) break;
    if (keep.has(file.path)) continue;
    ignoringFailure(() => rmSync(file.path, { force: true }));
    total -= file.bytes;
  }
  for (const other of byDir.keys()) {
    if (other !== dir) ignoringFailure(() => rmdirSync(other)); // only if empty: rmdir leaves a directory with files
  }
}

/** The caches a process has yet to write. */
interface CompileCache {
  /** Writes the caches of the chunks loaded so far that lacked one; the rest are written at exit. */
  write(): void;
}

/**
 * Compiles the CommonJS chunks under `bundleDir` loaded from now on through
 * the cache (see above); writes the caches they lacked when the process
 * exits, or earlier on write().
 */
function enableCompileCache(bundleDir: string, env: NodeJS.ProcessEnv, tag: string): CompileCache {
  const off = env[NO_COMPILE_CACHE_ENV];
  const dir = off !== undefined && off !== "" && off !== "0" ? undefined : compileCacheDir(env);
  if (dir === undefined) return { write: () => {} };
  const unwritten = new Map<string, Script>();
  /** The cache files of this process's chunks, which pruning leaves alone. */
  const own = new Set<string>();
  const cache = { write: () => writeCaches(dir, unwritten, own) };
  const readable = levels(dir).every(isPrivate);
  const loader = Module.prototype as unknown as CompilingModule;
  const compile = loader._compile;
  loader._compile = function (this: CompilingModule, content: string, filename: string): unknown {
    if (!filename.startsWith(bundleDir + sep) || content.includes("import(")) return compile.call(this, content, filename);
    const file = join(dir, `${basename(filename)}${tag}.v8`);
    own.add(file);
    const cachedData = readable ? readIfPresent(file) : undefined;
    const script = new Script(Module.wrap(content), { filename, cachedData });
    if (cachedData === undefined || script.cachedDataRejected === true) unwritten.set(file, script);
    const wrapper = script.runInThisContext() as ModuleWrapper;
    return wrapper.call(this.exports, this.exports, Module.createRequire(filename), this, filename, dirname(filename));
  };
  process.once("exit", cache.write);
  return cache;
}

/**
 * What each bundle's entry does (client/launch.ts, daemon/launch.ts,
 * daemon/config/parse-worker-launch.ts, plugins/provider-local/launch.ts),
 * which is why the entry is kept apart from the code it runs: turns the
 * cache on for the chunks beside and under the entry at `entryUrl`, and only
 * then runs `load`, which loads them. A process that runs for hours passes
 * `writeAfterMs`: its caches are written that long after its start (once it
 * has served the request it was started for), not only at its exit, so that
 * the next one on the machine starts from them. A failure to load is printed
 * after `failurePrefix`, and exits 1.
 * `cacheTag` keeps an entry's caches apart from other entries' of the same
 * chunks (`<chunk>.<tag>.v8`): a cache holds the functions its writer had
 * compiled by then, and the configuration parser's thread runs other
 * functions of the chunks it shares with the daemon (the YAML parser).
 */
export function launchCached(entryUrl: string, load: () => Promise<unknown>, options: { failurePrefix: string; writeAfterMs?: number; cacheTag?: string }): void {
  const cache = enableCompileCache(dirname(fileURLToPath(entryUrl)), process.env, options.cacheTag === undefined ? "" : `.${options.cacheTag}`);
  load().catch((err: unknown) => {
    process.stderr.write(`${options.failurePrefix}${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
  if (options.writeAfterMs !== undefined) setTimeout(() => cache.write(), options.writeAfterMs).unref();
}
