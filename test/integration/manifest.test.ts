// wfctl.yaml and .wfctl-lock.yaml: plugins from a path or an installed npm
// package, locked by starting each once; every mistake named with its file.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Engine } from "../../daemon/engine/engine.js";
import { PluginCatalog } from "../../daemon/supervisor/catalog.js";
import { projectPluginSpecs } from "../../daemon/supervisor/manifest.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { ErrorCode } from "../../proto/errors.js";
import { rejectionOf } from "../helpers/errors.js";
import { FIXTURE_PLUGINS, tempDir } from "../helpers/paths.js";
import { quiet } from "../helpers/supervisors.js";

describe("project plugin manifest and lockfile", () => {
  let dir: ReturnType<typeof tempDir>;
  let engine: Engine;
  beforeEach(() => {
    dir = tempDir("wft-man-");
    engine = new Engine(new PluginSupervisor(new PluginCatalog(), quiet, { healthIntervalMs: 0, idleStopMs: 0 }), quiet);
  });
  afterEach(async () => {
    await engine.supervisor.stopAll();
    dir.cleanup();
  });
  const manifest = (text: string) => writeFileSync(join(dir.path, "wfctl.yaml"), text);
  const configPath = () => join(dir.path, "infra.yaml");

  it("locks a plugin installed as an npm package (its bin), and runs it from the lock", async () => {
    const pkg = join(dir.path, "node_modules", "@acme", "wfctl-slowfs");
    mkdirSync(join(pkg, "bin"), { recursive: true });
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "@acme/wfctl-slowfs", version: "2.0.0", bin: { "wfctl-slowfs": "bin/plugin.mjs" } }));
    writeFileSync(join(pkg, "bin", "plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))};\n`);
    manifest('plugins:\n  - name: slowfs\n    kind: provider\n    package: "@acme/wfctl-slowfs"\n    args: ["--quiet"]\n');

    const { lockfile, entries } = await engine.lockPlugins(configPath());
    expect(entries["slowfs"]).toMatchObject({ path: "node_modules/@acme/wfctl-slowfs/bin/plugin.mjs", node: true, version: "2.0.0", source: "package:@acme/wfctl-slowfs", args: ["--quiet"] });
    expect((parse(readFileSync(lockfile, "utf8")) as { lockfile_version: number }).lockfile_version).toBe(3);
    // Not installed by plugins install: the checksum covers the package's own directory.
    expect(entries["slowfs"]).toMatchObject({ root: "node_modules/@acme/wfctl-slowfs", checksums: { any: expect.stringMatching(/^h1:/) as unknown } });

    const [spec] = await projectPluginSpecs(dir.path);
    expect(spec).toMatchObject({ name: "slowfs", executable: process.execPath, args: [join(pkg, "bin", "plugin.mjs"), "--quiet"] });
    const instance = await engine.supervisor.acquire(spec as NonNullable<typeof spec>, "k", async () => {});
    expect(instance.info?.version).toBe("2.0.0");
  });

  it("refuses a lock whose plugin answers to another name than wfctl.yaml gives it, naming both", async () => {
    manifest(`plugins:\n  - name: notes\n    kind: provider\n    source: ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))}\n`);
    const err = await rejectionOf(engine.lockPlugins(configPath()));
    expect(err.code).toBe(ErrorCode.PLUGIN_INCOMPATIBLE);
    expect(err.message).toMatch(/^plugin "notes" \(pid \d+\) answers to the name "slowfs", but .*wfctl\.yaml declares it as "notes"/);
  });

  it("refuses a lock of a state-backend plugin that does not serve the backend configuration names it by", async () => {
    const source = JSON.stringify(join(FIXTURE_PLUGINS, "memory-state.mjs"));
    manifest(`plugins:\n  - name: fixture-memory\n    kind: state_backend\n    source: ${source}\n    env: { FIXTURE_MEMORY_BACKENDS: "memory-a,memory-b" }\n`);
    const err = await rejectionOf(engine.lockPlugins(configPath()));
    expect(err.code).toBe(ErrorCode.PLUGIN_INCOMPATIBLE);
    expect(err.message).toContain('is declared by');
    expect(err.message).toContain('as state backend "fixture-memory" (the `backend:` configuration uses), but declares backend(s) [memory-a, memory-b]');
    // Serving it, it locks.
    manifest(`plugins:\n  - name: fixture-memory\n    kind: state_backend\n    source: ${source}\n    env: { FIXTURE_MEMORY_BACKENDS: "memory-a,fixture-memory" }\n`);
    expect((await engine.lockPlugins(configPath())).entries["fixture-memory"]).toMatchObject({ version: "1.0.0" });
  });

  it("refuses a lock whose plugin reports another version than the manifest asks for, naming both", async () => {
    manifest(`plugins:\n  - name: slowfs\n    kind: provider\n    source: ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))}\n    version: 3.0.0\n`);
    const err = await rejectionOf(engine.lockPlugins(configPath()));
    expect(err.code).toBe(ErrorCode.PLUGIN_INCOMPATIBLE);
    expect(err.message).toContain('plugin "slowfs" asks for version 3.0.0, but');
    expect(err.message).toContain("is version 2.0.0");
  });

  it("names the file, line and field of a malformed manifest", async () => {
    manifest('plugins:\n  - name: x\n    kind: provider\n    source: ./a.mjs\n    package: "b"\n  - name: y\n    kind: sidecar\n    source: ./y\n');
    const err = await rejectionOf(projectPluginSpecs(dir.path));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toContain(`${join(dir.path, "wfctl.yaml")}:2:`);
    expect(err.message).toContain("set exactly one of source and package");
    expect(err.message).toMatch(/wfctl\.yaml:7:\d+: field "plugins\.kind"/);
  });

  it("refuses a core backend name, a name declared twice, and a missing file", async () => {
    manifest("plugins:\n  - name: filesystem\n    kind: state_backend\n    source: ./x.mjs\n");
    expect((await rejectionOf(projectPluginSpecs(dir.path))).message).toContain("are core state backends and cannot be replaced");
    manifest("plugins:\n  - name: a\n    kind: provider\n    source: ./x.mjs\n  - name: a\n    kind: provider\n    source: ./y.mjs\n");
    expect((await rejectionOf(projectPluginSpecs(dir.path))).message).toContain('plugin "a" (provider) is declared twice');
    // The lockfile pins a plugin by its name: one name cannot be two plugins.
    manifest("plugins:\n  - name: a\n    kind: provider\n    source: ./x.mjs\n  - name: a\n    kind: state_backend\n    source: ./y.mjs\n");
    expect((await rejectionOf(projectPluginSpecs(dir.path))).message).toContain('plugin "a" (as a provider and as a state_backend; a name is one plugin) is declared twice');
    manifest("plugins:\n  - name: a\n    kind: provider\n    source: ./nope.mjs\n");
    const missing = await rejectionOf(engine.lockPlugins(configPath()));
    expect(missing.code).toBe(ErrorCode.PLUGIN_NOT_FOUND);
    expect(missing.message).toContain(`${join(dir.path, "nope.mjs")} is not a file`);
  });

  it("a project without wfctl.yaml has no plugins of its own", async () => {
    expect(await projectPluginSpecs(dir.path)).toEqual([]);
  });
});
