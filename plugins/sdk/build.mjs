// Builds @wfctl/plugin-sdk into dist/ (run by `npm pack` through prepack):
// the SDK, the conformance kits and the proto modules they import, as ES
// modules with type declarations. Then checks the package says what its code
// needs: the version is wfctl's, `dependencies` (and the optional vitest
// peer) are exactly the packages the built code and its declarations import
// (node: modules aside: an author installs @types/node), each with the
// version range wfctl itself is built and tested with.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const read = (path) => JSON.parse(readFileSync(path, "utf8"));
const pkg = read(join(here, "package.json"));
const root = read(join(here, "..", "..", "package.json"));

/** Stops the build, saying what is wrong and what to change. */
function fail(message) {
  process.stderr.write(`@wfctl/plugin-sdk build: ${message}\n`);
  process.exit(1);
}

/**
 * The bare package names the built code imports: the JavaScript (statically
 * or dynamically) and the declarations (an author's tsc reads them too).
 */
function importedPackages(dir) {
  const names = new Set();
  for (const entry of readdirSync(dir, { recursive: true })) {
    if (!/\.(js|d\.ts)$/.test(String(entry))) continue;
    const text = readFileSync(join(dir, String(entry)), "utf8");
    for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)"([^"]+)"/gm)) {
      const spec = match[1];
      if (spec.startsWith(".") || spec.startsWith("node:")) continue;
      names.add(spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/"));
    }
  }
  return names;
}

if (root.name !== "wfctl") fail(`../../package.json is not wfctl's; build the SDK from a wfctl checkout`);
if (pkg.version !== root.version) fail(`version ${pkg.version} is not wfctl's (${root.version}): set "version" in plugins/sdk/package.json to ${root.version}`);

rmSync(join(here, "dist"), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", join(here, "tsconfig.build.json")], { stdio: "inherit" });
} catch {
  fail("tsc failed (above)");
}

const declared = { ...pkg.dependencies, ...pkg.peerDependencies };
const imported = importedPackages(join(here, "dist"));
const wfctlRanges = { ...root.dependencies, ...root.devDependencies };
const problems = [];
for (const name of imported) if (!(name in declared)) problems.push(`the code imports ${name}, which package.json does not list: add "${name}": "${wfctlRanges[name] ?? "?"}"`);
for (const name of Object.keys(declared)) if (!imported.has(name)) problems.push(`package.json lists ${name}, which the code does not import: remove it`);
for (const [name, range] of Object.entries(declared)) {
  if (wfctlRanges[name] !== range) problems.push(`${name} is "${range}" here but "${wfctlRanges[name]}" in wfctl's package.json: use the same range`);
}
if (problems.length > 0) fail(problems.join("\n"));
