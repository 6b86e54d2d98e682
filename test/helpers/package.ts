// The wfctl package as users get it: this repository packed by `npm pack`
// and installed by npm from the tarball. Tests that use it run the installed
// executables, never the checkout's.
import { execFile } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./paths.js";

const exec = promisify(execFile);

/** What `npm pack` made. */
export interface PackedWfctl {
  tarball: string;
  /** Every file in the tarball, relative to the package's root. */
  files: string[];
}

/**
 * Packs the repository's package into `dir`. The tests' global setup has
 * built dist/ already, so the prepack build is skipped (--ignore-scripts):
 * what is packed is what `npm pack` alone would pack after it.
 */
export async function packWfctl(dir: string): Promise<PackedWfctl> {
  const { stdout } = await exec("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const [pack] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (!pack) throw new Error(`npm pack printed no package:\n${stdout}`);
  return { tarball: join(dir, pack.filename), files: pack.files.map((f) => f.path) };
}

/**
 * npm's cache directory. `npm ci` filled it with every dependency, so an
 * install that prefers it needs no network; a test that gives npm another
 * HOME points npm at it explicitly (npm_config_cache).
 */
export async function npmCache(): Promise<string> {
  const { stdout } = await exec("npm", ["config", "get", "cache"], { cwd: ROOT });
  return stdout.trim();
}

/**
 * `npm install -g` of `tarball` into `prefix` (executables in <prefix>/bin),
 * dependencies from npm's cache first. Returns the installed package's directory.
 */
export async function installGlobally(tarball: string, prefix: string): Promise<string> {
  await exec("npm", ["install", "--global", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", tarball], {
    cwd: dirname(tarball),
    maxBuffer: 16 * 1024 * 1024,
  });
  return join(prefix, "lib", "node_modules", "wfctl");
}

/**
 * The npm packages the JavaScript of an installed package imports or
 * requires (its own node_modules left out), each with a file that does: what
 * must be among its dependencies for it to run where only those are installed.
 */
export function importedPackages(packageDir: string): Map<string, string> {
  const found = new Map<string, string>();
  // A specifier has no white space: `from` inside a string ("… installed from; …") is not an import.
  const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([^"'\s]+)["']/g;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules") walk(path);
        continue;
      }
      if (!/\.[cm]?js$/.test(entry.name)) continue;
      for (const [, spec] of readFileSync(path, "utf8").matchAll(specifier)) {
        if (!spec || spec.startsWith(".") || spec.startsWith("/") || isBuiltin(spec)) continue;
        const name = spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/");
        if (!found.has(name)) found.set(name, path.slice(packageDir.length + 1));
      }
    }
  };
  walk(packageDir);
  return found;
}
