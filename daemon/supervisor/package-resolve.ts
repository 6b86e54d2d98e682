// Where a `package:` plugin of wfctl.yaml is: where `wfctl plugins install`
// put it (.wfctl/plugins/<name>/node_modules, a directory of its own per
// plugin), else the project's own node_modules (the directory of
// wfctl.yaml), never in a parent directory's (Node's own resolution walks up
// to /node_modules, where anyone who can write a parent directory could
// plant a package). The package and its bin must really be inside the
// project directory: a symlink in node_modules to a workspace of the project
// is fine, one leading out of it is refused.
import { readFile, realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { ErrorCode, WfctlError } from "../../proto/errors.js";

/** Whether `path` is `root` or below it (both real paths). */
export function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** The real path of `path`, or undefined when it does not exist. */
async function real(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch {
    return undefined;
  }
}

/** Refuses `path` (a plugin's package or file) whose real path `target` leaves the project directory `root`. */
function refuseEscape(where: string, pkg: string, path: string, target: string, root: string): WfctlError {
  return new WfctlError(
    ErrorCode.PLUGIN_NOT_FOUND,
    `${where}: npm package "${pkg}": ${path} leads to ${target}, outside the project directory ${root}; ` +
      "a package plugin must be installed in the project's own node_modules (links to the project's own workspaces are fine)",
  );
}

/** The one `bin` entry of a package.json, or an error saying how many there are. */
function onlyBin(where: string, pkg: string, file: string, text: string): string {
  let meta: { bin?: unknown };
  try {
    meta = JSON.parse(text) as { bin?: unknown };
  } catch (err) {
    throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${where}: npm package "${pkg}": ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const bin = meta.bin;
  const bins = typeof bin === "string" ? [bin] : bin !== null && typeof bin === "object" ? Object.values(bin as Record<string, unknown>) : [];
  if (bins.length !== 1 || typeof bins[0] !== "string") {
    throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${where}: npm package "${pkg}" must declare exactly one bin entry (${file} declares ${bins.length})`);
  }
  return bins[0];
}

/** Where `wfctl plugins install` installs plugin `name` of the project in `dir`: an npm prefix of its own. */
export function installDir(dir: string, name: string): string {
  return join(dir, ".wfctl", "plugins", name);
}

/** A package plugin as found: its executable, and what its checksum covers (its install directory, or its package directory). */
export interface ResolvedPackage {
  bin: string;
  root: string;
}

/**
 * The real path of the executable of npm package `pkg`, plugin `name` of the
 * project in `dir`: the one bin of its package.json in
 * `<dir>/.wfctl/plugins/<name>/node_modules/<pkg>`, else in
 * `<dir>/node_modules/<pkg>`. `where` names the plugin in errors
 * (`/p/wfctl.yaml: plugin "x"`).
 */
export async function resolvePackageBin(dir: string, pkg: string, name: string, where: string): Promise<ResolvedPackage> {
  const root = (await real(dir)) ?? resolve(dir);
  const installed = installDir(dir, name);
  const places = [join(installed, "node_modules"), join(dir, "node_modules")];
  let modules = places[0] as string;
  let packageJson = join(modules, ...pkg.split("/"), "package.json");
  let realJson = await real(packageJson);
  if (realJson === undefined) {
    modules = places[1] as string;
    packageJson = join(modules, ...pkg.split("/"), "package.json");
    realJson = await real(packageJson);
  }
  if (realJson === undefined) {
    throw new WfctlError(
      ErrorCode.PLUGIN_NOT_FOUND,
      `${where}: npm package "${pkg}" is not installed (looked in ${places.join(" and ")}; packages in parent directories are never used): ` +
        `run \`wfctl plugins install\` in ${dir}`,
    );
  }
  if (!isInside(realJson, root)) throw refuseEscape(where, pkg, dirname(packageJson), dirname(realJson), root);
  let text: string;
  try {
    text = await readFile(realJson, "utf8");
  } catch (err) {
    throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${where}: npm package "${pkg}": cannot read ${packageJson}: ${(err as Error).message}`);
  }
  const bin = resolve(dirname(realJson), onlyBin(where, pkg, packageJson, text));
  const realBin = await real(bin);
  if (realBin === undefined) throw new WfctlError(ErrorCode.PLUGIN_NOT_FOUND, `${where}: npm package "${pkg}": its bin ${bin} is not a file`);
  if (!isInside(realBin, root)) throw refuseEscape(where, pkg, bin, realBin, root);
  // Installed by plugins install: its whole node_modules (the package and every dependency npm put beside it).
  const coverage = modules === places[0] ? ((await real(modules)) ?? modules) : dirname(realJson);
  return { bin: realBin, root: coverage };
}

/**
 * Checks, before a locked package plugin runs, that its file still really is
 * inside the project directory (a link swapped in after locking is refused).
 */
export async function checkStillInside(dir: string, pkg: string, path: string, where: string): Promise<void> {
  const root = (await real(dir)) ?? resolve(dir);
  const target = await real(path);
  // A missing file is reported by the checksum check, which names it.
  if (target !== undefined && !isInside(target, root)) throw refuseEscape(where, pkg, path, target, root);
}
