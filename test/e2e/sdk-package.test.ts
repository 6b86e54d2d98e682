// @wfctl/plugin-sdk as a plugin author outside this repository gets it: packed
// with `npm pack ./plugins/sdk` (its prepack builds it), installed with npm
// into a project in the system's temporary directory, from the npm cache
// (the project's lockfile is cut from wfctl's, so no package needs the
// network), used there to write a provider and a state backend
// (test/fixtures/plugin-author), built with the project's own tsc (strict,
// the SDK's declarations checked too), checked by both conformance kits in
// the project's own vitest run, and run by wfctl from the project's
// wfctl.yaml: locked, then applied.
import { cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { providerChecks } from "../../plugins/conformance/provider-checks.js";
import { stateBackendChecks } from "../../plugins/conformance/state-backend.js";
import { type PackageJson, run, wfctlRange, writeLockedProject } from "../helpers/npm-project.js";
import { ROOT, WFCTL, tempDir } from "../helpers/paths.js";

const SDK = join(ROOT, "plugins", "sdk");
const manifest = JSON.parse(readFileSync(join(SDK, "package.json"), "utf8")) as PackageJson & { exports: Record<string, unknown> };

/** What `npm pack --json` says of the tarball it wrote. */
interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

/** Fails with a command's output unless it exited 0. */
function expectSuccess(result: { code: number | null; output: string }, what: string): void {
  expect(result.code, `${what} exited ${result.code}:\n${result.output}`).toBe(0);
}

describe("the plugin SDK package, installed in a project outside the repository", () => {
  let temp: ReturnType<typeof tempDir>;
  let project = "";
  let packed: Packed;

  beforeAll(() => {
    temp = tempDir("wft-sdk-");
    project = join(temp.path, "notes-plugins");
  });
  afterAll(() => temp?.cleanup());

  it("packs: the built SDK and kits with their declarations, wfctl's version, and exactly the dependencies its code imports", { timeout: 240_000 }, async () => {
    const result = await run("npm", ["pack", SDK, "--pack-destination", temp.path, "--json"], { cwd: ROOT, timeoutMs: 230_000 });
    expectSuccess(result, "npm pack ./plugins/sdk");
    [packed] = JSON.parse(result.output.slice(result.output.indexOf("[\n"))) as [Packed];
    const files = packed.files.map((f) => f.path);
    for (const target of Object.values(manifest.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e as Record<string, string>)))) {
      expect(files).toContain(target.replace(/^\.\//, ""));
    }
    expect(files).toContain("README.md");
    // Built JavaScript and declarations only: no TypeScript sources, source maps or build files.
    expect(files.filter((f) => !/^dist\/.*\.(js|d\.ts)$/.test(f) && !["package.json", "README.md"].includes(f))).toEqual([]);
    const root = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;
    expect(manifest.version).toBe(root.version);
    expect(Object.keys(manifest.peerDependencies ?? {})).toEqual(["vitest"]);
    expect(manifest.peerDependenciesMeta?.["vitest"]?.optional).toBe(true);
    expect(manifest["scripts"]).not.toHaveProperty("install");
    expect(manifest["scripts"]).not.toHaveProperty("postinstall");
  });

  it("installs with npm from the npm cache, beside typescript, vitest and @types/node", { timeout: 240_000 }, async () => {
    cpSync(join(ROOT, "test", "fixtures", "plugin-author"), project, { recursive: true });
    const pkg: PackageJson = {
      name: "acme-wfctl-notes",
      version: "1.0.0",
      private: true,
      type: "module",
      scripts: { build: "tsc", test: "vitest run" },
      devDependencies: { typescript: wfctlRange("typescript"), vitest: wfctlRange("vitest"), "@types/node": wfctlRange("@types/node") },
    };
    writeLockedProject(project, pkg, { tarball: join(temp.path, packed.filename), manifest });
    expectSuccess(await run("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: project, timeoutMs: 230_000 }), "npm ci");
    const installed = JSON.parse(readFileSync(join(project, "node_modules", "@wfctl", "plugin-sdk", "package.json"), "utf8")) as PackageJson;
    expect(installed.version).toBe(manifest.version);
  });

  it("builds the provider and the state backend with the project's tsc (strict, declarations checked)", { timeout: 180_000 }, async () => {
    expectSuccess(await run("npx", ["--no", "tsc"], { cwd: project, timeoutMs: 170_000 }), "tsc");
    expect(existsSync(join(project, "dist", "src", "notes.js"))).toBe(true);
    expect(existsSync(join(project, "dist", "src", "kv.js"))).toBe(true);
  });

  it("passes both conformance kits in the project's vitest run, and wfctl locks and applies the plugins its wfctl.yaml declares", { timeout: 240_000 }, async () => {
    const report = join(temp.path, "vitest-report.json");
    const wfctl = (...args: string[]) => run(process.execPath, [WFCTL, ...args, "--no-daemon"], { cwd: project, timeoutMs: 60_000 });
    // The conformance run and wfctl each start plugins of their own: they run side by side.
    const wfctlRuns = (async () => {
      const lock = await wfctl("plugins", "lock");
      return { lock, apply: lock.code === 0 ? await wfctl("infra", "apply", "--auto-approve") : lock };
    })();
    const kitsRun = run("npx", ["--no", "vitest", "run", "--reporter=json", `--outputFile=${report}`], { cwd: project, timeoutMs: 230_000 });
    const [kits, { lock, apply }] = await Promise.all([kitsRun, wfctlRuns]);

    expectSuccess(kits, "vitest run (the conformance kits)");
    const results = JSON.parse(readFileSync(report, "utf8")) as { numTotalTests: number; numPassedTests: number };
    // One provider type, every provider check; every state-backend check and the lock race.
    const expected = providerChecks.length + stateBackendChecks.length + 1;
    expect({ total: results.numTotalTests, passed: results.numPassedTests }).toEqual({ total: expected, passed: expected });

    expectSuccess(lock, "wfctl plugins lock");
    const lockfile = readFileSync(join(project, ".wfctl-lock.yaml"), "utf8");
    expect(lockfile).toContain("path: dist/src/notes.js");
    expect(lockfile).toContain("path: dist/src/kv.js");
    expectSuccess(apply, "wfctl infra apply");
    expect(apply.output).toContain("State: kv");
    expect(readFileSync(join(project, "out", "hello.txt"), "utf8")).toBe("hello from a plugin built outside wfctl\n");
  });
});
