// Keeping every path under the provider root against the filesystem as it
// is, not only as it is written. paths.ts checks a path's text ("../x",
// "/etc/x"); here each component that exists is resolved (symlinks followed)
// and must stay under the root's own real path, which is the reference (the
// root itself may be a symlink, as /tmp is on macOS). Plan checks a path
// before anything is written; apply checks again as it writes, directory by
// directory, because a symlink may be planted in between; writes open files
// with O_NOFOLLOW and rename into a directory whose real path was checked.
// Reads and plans of one operation take a shorter way to the same answer
// (see rootStillReal and withoutSymlinks).
import { type Stats, constants } from "node:fs";
import { lstat, mkdir, readlink, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ErrorCode, WfctlError } from "../sdk/index.js";
import { type LocalProvider, underRoot } from "./paths.js";

/** Flags for a file wfctl writes: a new file, never through a symlink. */
export const CREATE_NO_FOLLOW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Flags for a directory wfctl changes: the directory itself, never through a symlink. */
export const OPEN_DIRECTORY_NO_FOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Is `real` the root or under it? Both are real paths. */
export function isInside(realRoot: string, real: string): boolean {
  const rel = relative(realRoot, real);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** A path that leads out of the root through a symlink. */
function escapeError(provider: LocalProvider, resource: string, full: string, component: string, leadsTo: string): WfctlError {
  const shown = relative(provider.root, full);
  const through = component === full ? "it" : `"${relative(provider.root, component)}"`;
  return new WfctlError(
    ErrorCode.PERMISSION_DENIED,
    `${resource}: path "${shown}" leads outside the provider root ${provider.root}: ${through} resolves to ${leadsTo}; ` +
      "refusing to follow it (remove the symlink, or choose a path under the root)",
  );
}

const missing = (err: unknown): boolean => ["ENOENT", "ENOTDIR"].includes((err as NodeJS.ErrnoException).code ?? "");

/**
 * `next` (the component `lexical`) resolved, or undefined when it does not
 * exist yet; throws when it, or where a dangling symlink there would create
 * things, is outside the root.
 */
async function resolveComponent(provider: LocalProvider, resource: string, full: string, lexical: string, next: string): Promise<string | undefined> {
  let resolved: string;
  try {
    resolved = await realpath(next);
  } catch (err) {
    if (!missing(err)) throw err;
    const link = await lstat(next).catch(() => undefined);
    if (!link?.isSymbolicLink()) return undefined;
    // A symlink to nothing: writing through it would create its target, wherever that is.
    const target = resolve(dirname(next), await readlink(next));
    throw isInside(provider.realRoot, target)
      ? new WfctlError(ErrorCode.PERMISSION_DENIED, `${resource}: "${relative(provider.root, lexical)}" is a symlink to ${target}, which does not exist; refusing to write through it`)
      : escapeError(provider, resource, full, lexical, target);
  }
  if (!isInside(provider.realRoot, resolved)) throw escapeError(provider, resource, full, lexical, resolved);
  return resolved;
}

/**
 * Where `path` (relative to the root, as configured) is: its absolute path
 * under the root, and its real path when it exists. Refuses a path whose
 * text leaves the root (CONFIG_INVALID) or that leads out of it through a
 * symlink anywhere along it (PERMISSION_DENIED), naming the resource and the path.
 * `operation` (the host's operation id) lets the calls of one operation share one check of the root.
 */
export async function containedPath(provider: LocalProvider, path: string, resource: string, operation = ""): Promise<{ full: string; real: string | undefined }> {
  const full = underRoot(provider.root, path, resource);
  return { full, real: await resolveUnderRoot(provider, full, resource, operation) };
}

/** The real path of `full` (lexically under the root) when it exists; refuses an escape along it. */
export async function resolveUnderRoot(provider: LocalProvider, full: string, resource: string, operation = ""): Promise<string | undefined> {
  return (await inspectUnderRoot(provider, full, resource, operation))?.real;
}

/**
 * The real path of `full` (lexically under the root) and what is there
 * (symlinks followed) when it exists; refuses an escape along it.
 */
export async function inspectUnderRoot(provider: LocalProvider, full: string, resource: string, operation = ""): Promise<{ real: string; info: Stats } | undefined> {
  const rel = relative(provider.root, full);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `${resource}: ${full} is not under the provider root ${provider.root} (was the root changed?); refusing to touch it`);
  }
  const parts = rel.split(sep);
  if (await rootStillReal(provider, operation)) {
    const plain = await withoutSymlinks(provider.realRoot, parts);
    if (plain !== "symlink") return plain;
  }
  const real = await resolveComponents(provider, full, resource, parts);
  return real === undefined ? undefined : { real, info: await stat(real) };
}

/** Each component resolved in turn (realpath), every one checked to stay under the root. */
async function resolveComponents(provider: LocalProvider, full: string, resource: string, parts: readonly string[]): Promise<string | undefined> {
  let real = provider.realRoot;
  let lexical = provider.root;
  for (const part of parts) {
    lexical = join(lexical, part);
    const resolved = await resolveComponent(provider, resource, full, lexical, join(real, part));
    if (resolved === undefined) return undefined;
    real = resolved;
  }
  return real;
}

/** How many operations' root checks a provider remembers (a warm daemon may run a few at once). */
const REMEMBERED_OPERATIONS = 8;
const rootChecks = new WeakMap<LocalProvider, Map<string, Promise<boolean>>>();

/**
 * Is the real root, taken at Configure, still its own real path: nothing
 * along it made a symlink (or removed) since? A warm daemon keeps a
 * configured provider across commands, and anything may have changed
 * between them, so this is checked again for each operation (once: the
 * calls of one operation share the answer); with no operation id, for
 * every call. When it is not, every path takes the full check.
 */
function rootStillReal(provider: LocalProvider, operation: string): Promise<boolean> {
  const check = (): Promise<boolean> => realpath(provider.realRoot).then((real) => real === provider.realRoot, () => false);
  if (operation === "") return check();
  let checks = rootChecks.get(provider);
  if (!checks) rootChecks.set(provider, (checks = new Map()));
  let answer = checks.get(operation);
  if (!answer) {
    checks.set(operation, (answer = check()));
    if (checks.size > REMEMBERED_OPERATIONS) checks.delete(checks.keys().next().value as string);
  }
  return answer;
}

/**
 * Under a root that is its own real path, `parts` with no symlink along
 * them (each one lstat-ed) name a real path already, under the root: what
 * is there, undefined when something on the way is missing, and "symlink"
 * when one is met (the full check then decides where it leads).
 */
async function withoutSymlinks(realRoot: string, parts: readonly string[]): Promise<{ real: string; info: Stats } | undefined | "symlink"> {
  let real = realRoot;
  let info: Stats | undefined;
  for (const part of parts) {
    real = join(real, part);
    try {
      info = await lstat(real);
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
    if (info.isSymbolicLink()) return "symlink";
  }
  return info === undefined ? undefined : { real, info };
}

/**
 * The real directory that holds `full`, checked as each directory on the
 * way is reached (and, with `create`, made with `mode` when missing); a
 * symlink out of the root is refused before anything is written through it.
 * Undefined when a directory is missing and `create` is false.
 */
export async function containedParent(provider: LocalProvider, full: string, resource: string, create: { mode: number } | undefined): Promise<string | undefined> {
  const rel = relative(provider.root, dirname(full));
  // The root itself may be gone since Configure made it (removed between two commands of a warm daemon): made again where it was.
  if (create) await mkdir(provider.realRoot, { recursive: true, mode: create.mode });
  let real = provider.realRoot;
  let lexical = provider.root;
  for (const part of rel === "" ? [] : rel.split(sep)) {
    lexical = join(lexical, part);
    const next = join(real, part);
    if (create) {
      await mkdir(next, { mode: create.mode }).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      });
    }
    const resolved = await resolveComponent(provider, resource, full, lexical, next);
    if (resolved === undefined) return undefined;
    real = resolved;
  }
  return real;
}

/**
 * Refuses when the directory holding `full` no longer resolves to
 * `realParent`: something along the path was swapped while it was written.
 */
export async function checkStillAt(provider: LocalProvider, full: string, realParent: string, resource: string): Promise<void> {
  const now = await realpath(dirname(full)).catch(() => undefined);
  if (now === realParent) return;
  const outside = now !== undefined && !isInside(provider.realRoot, now);
  throw new WfctlError(
    ErrorCode.PERMISSION_DENIED,
    `${resource}: path "${relative(provider.root, full)}": its directory changed while it was written (it was ${realParent}, now ${now ?? "gone"}` +
      `${outside ? `, outside the provider root ${provider.root}` : ""}); refusing to finish the write`,
  );
}
