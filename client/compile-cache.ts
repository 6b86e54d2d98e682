// A V8 code cache for the client's bundle: what Node 22's
// module.enableCompileCache() does, which Node 20 lacks. Every command used to
// compile the bundle's chunks (about 600 KB) and then each function it ran.
// Now the first command of a build writes V8's code for its chunks, taken at
// exit so that the functions it compiled lazily are in, and later commands
// load it instead of compiling.
//
// - Only the bundle's own chunks are served, each cached under its file name,
//   which carries a hash of its content (client/bundle.mjs). A chunk with a
//   dynamic import() is compiled as usual: Node 20 loses a script's import()
//   callback when its code comes from a cache.
// - V8 checks a cache against its version, its flags and the length of the
//   source, and rejects one that does not fit; a rejected cache is compiled
//   as usual and written again.
// - The caches live in the per-user runtime directory, used only when it and
//   the directories under it are the user's own and closed to everyone else:
//   code read from there runs as the user.
// - Nothing here fails a command: an unreadable or unwritable cache means
//   Node compiles as it would without one. WFCTL_NO_COMPILE_CACHE=1 turns it off.
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { Script } from "node:vm";

/** Set (to anything but "" or "0"), the client compiles its chunks without a cache. */
export const NO_COMPILE_CACHE_ENV = "WFCTL_NO_COMPILE_CACHE";

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

function readIfPresent(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes each script's code cache to its file (whole or not at all: temp file, then rename). */
function writeCaches(dir: string, scripts: ReadonlyMap<string, Script>): void {
  if (scripts.size === 0 || !makePrivate(dir)) return;
  for (const [file, script] of scripts) {
    const temp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temp, script.createCachedData(), { mode: 0o600 });
      renameSync(temp, file);
    } catch {
      rmSync(temp, { force: true });
    }
  }
}

/**
 * Compiles the CommonJS chunks in `bundleDir` loaded from now on through the
 * cache (see above); writes the caches they lacked when the process exits.
 */
export function enableCompileCache(bundleDir: string, env: NodeJS.ProcessEnv = process.env): void {
  const off = env[NO_COMPILE_CACHE_ENV];
  if (off !== undefined && off !== "" && off !== "0") return;
  const dir = compileCacheDir(env);
  if (dir === undefined) return;
  const readable = levels(dir).every(isPrivate);
  const unwritten = new Map<string, Script>();
  const loader = Module.prototype as unknown as CompilingModule;
  const compile = loader._compile;
  loader._compile = function (this: CompilingModule, content: string, filename: string): unknown {
    if (dirname(filename) !== bundleDir || content.includes("import(")) return compile.call(this, content, filename);
    const file = join(dir, `${basename(filename)}.v8`);
    const cachedData = readable ? readIfPresent(file) : undefined;
    const script = new Script(Module.wrap(content), { filename, cachedData });
    if (cachedData === undefined || script.cachedDataRejected === true) unwritten.set(file, script);
    const wrapper = script.runInThisContext() as ModuleWrapper;
    return wrapper.call(this.exports, this.exports, Module.createRequire(filename), this, filename, dirname(filename));
  };
  process.once("exit", () => writeCaches(dir, unwritten));
}
