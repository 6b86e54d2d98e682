// Resolving resource paths under the provider's root, refusing any path whose
// text would escape it (containment.ts checks what the path resolves to).
import { isAbsolute, relative, resolve, sep } from "node:path";
import { ErrorCode, type JsonValue, type PriorResource, WfctlError } from "../sdk/index.js";

/** What Configure resolved: the root every resource path is under. */
export interface LocalProvider {
  /** Absolute, as configured: resource ids and outputs are under it. */
  root: string;
  /** Its real path (symlinks resolved), taken at Configure: what containment is checked against, and what writes go through. */
  realRoot: string;
}

/** The absolute path of `path` under `root`; throws CONFIG_INVALID if it escapes the root. */
export function underRoot(root: string, path: string, resource: string): string {
  if (path.trim() === "") throw new WfctlError(ErrorCode.CONFIG_INVALID, `${resource}: field "path" must not be empty`);
  if (isAbsolute(path)) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `${resource}: field "path" must be relative to the provider root ${root}, got "${path}"`);
  }
  const full = resolve(root, path);
  const rel = relative(root, full);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`)) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `${resource}: field "path" "${path}" points outside the provider root ${root}`);
  }
  return full;
}

/** Parses an octal mode ("0644", "755"); throws CONFIG_INVALID naming the field. */
export function parseMode(value: string, resource: string): number {
  if (!/^0?[0-7]{3}$/.test(value)) {
    throw new WfctlError(ErrorCode.CONFIG_INVALID, `${resource}: field "mode" must be an octal permission like "0644", got "${value}"`);
  }
  return Number.parseInt(value, 8);
}

/** The canonical form of a mode for state and comparisons: four octal digits. */
export function formatMode(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

/**
 * The file or directory a record is about: its provider id (absolute; an
 * import may give it relative to the root), or, for a create never
 * confirmed, where its configuration puts it.
 */
export function recordedPath(prior: PriorResource, root: string, resource: string): string {
  const id = prior.providerId;
  if (id === "") return underRoot(root, String(prior.config["path"]), resource);
  return isAbsolute(id) ? id : underRoot(root, id, resource);
}

/** The `path` field of what is read at `full`: as recorded, else (an import: nothing recorded yet) relative to the root, as configurations write it. */
export function configuredPath(prior: PriorResource, full: string, root: string): JsonValue {
  return prior.config["path"] ?? relative(root, full);
}
