// `package:` plugins resolve only inside the project's own node_modules
// (issue 17, item 5), through the real CLI and daemon: a package planted in a
// parent directory's node_modules is never found (nor run), one linked in
// from outside the project is refused, a path for a name is refused as
// configuration, a link to the project's own workspace is fine, and a locked
// package whose files are swapped for a link out of the project is refused.
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";

/** The error a command printed with --json. */
function errorOf(result: CliResult): { code: string; message: string } {
  expectExit(result, 1);
  const line = result.stdout.split("\n").find((l) => l.startsWith('{"error"'));
  if (!line) throw new Error(`no JSON error on stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return (JSON.parse(line) as { error: { code: string; message: string } }).error;
}

/** An npm package at `dir` whose one bin leaves `marker` when it runs, then serves the declares-env fixture. */
function pluginPackage(dir: string, name: string, marker: string): void {
  mkdirSync(join(dir, "bin"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version: "1.0.0", bin: { [name.replace(/^@.*\//, "")]: "bin/plugin.mjs" } }));
  writeFileSync(
    join(dir, "bin", "plugin.mjs"),
    `import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(marker)}, "ran");\nawait import(${JSON.stringify(join(FIXTURE_PLUGINS, "declares-env.mjs"))});\n`,
  );
}

describe("where a package plugin is looked for", () => {
  const sandbox = cliSandbox("wft-pkg-");
  let project: string;
  let config: string;
  let planted: string;
  const manifest = (pkg: string) => writeFileSync(join(project, "wfctl.yaml"), `plugins:\n  - name: declared\n    kind: provider\n    package: ${JSON.stringify(pkg)}\n`);
  const lock = () => sandbox.cli.run(["plugins", "lock", "-c", config, "--json"]);

  beforeAll(() => {
    const outer = join(sandbox.dir, "outer");
    project = join(outer, "project");
    config = join(project, "infra.yaml");
    planted = join(sandbox.dir, "planted-ran");
    mkdirSync(join(project, "node_modules"), { recursive: true });
    writeFileSync(
      config,
      "modules:\n  - name: mine\n    type: iac.provider\n    config: { provider: declared }\n" +
        "  - name: thing\n    type: declared.thing\n    provider: mine\n    config: { label: x }\n",
    );
    // Planted where Node's own resolution would find it: a parent directory's node_modules.
    pluginPackage(join(outer, "node_modules", "planted-plugin"), "planted-plugin", planted);
    // Outside the project, linked into its node_modules.
    pluginPackage(join(sandbox.dir, "elsewhere", "linked-plugin"), "linked-plugin", planted);
    symlinkSync(join(sandbox.dir, "elsewhere", "linked-plugin"), join(project, "node_modules", "linked-plugin"));
    // The project's own workspace, linked as npm does.
    pluginPackage(join(project, "packages", "ws-plugin"), "@acme/ws-plugin", join(sandbox.dir, "workspace-ran"));
    mkdirSync(join(project, "node_modules", "@acme"));
    symlinkSync(join("..", "..", "packages", "ws-plugin"), join(project, "node_modules", "@acme", "ws-plugin"));
  });

  it("never uses a package in a parent directory's node_modules, saying where it looked", async () => {
    manifest("planted-plugin");
    const error = errorOf(await lock());
    expect(error.code).toBe("PLUGIN_NOT_FOUND");
    expect(error.message).toContain(
      `plugin "declared": npm package "planted-plugin" is not installed (looked in ${join(project, ".wfctl", "plugins", "declared", "node_modules")} and ${join(project, "node_modules")}; ` +
        "packages in parent directories are never used)",
    );
    expect(existsSync(planted)).toBe(false);
  });

  it("refuses a package linked in from outside the project, naming where the link leads", async () => {
    manifest("linked-plugin");
    const error = errorOf(await lock());
    expect(error.code).toBe("PLUGIN_NOT_FOUND");
    expect(error.message).toContain(`npm package "linked-plugin": ${join(project, "node_modules", "linked-plugin")} leads to ${join(sandbox.dir, "elsewhere", "linked-plugin")}, outside the project directory ${project}`);
    expect(existsSync(planted)).toBe(false);
  });

  it("refuses a path given as a package name, naming the field", async () => {
    manifest("../node_modules/planted-plugin");
    const error = errorOf(await lock());
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.message).toMatch(/wfctl\.yaml:4:\d+: field "plugins\.package": must be an npm package name/);
    expect(existsSync(planted)).toBe(false);
  });

  it("locks and runs a package linked to the project's own workspace, pinning its real path", async () => {
    manifest("@acme/ws-plugin");
    expectExit(await lock(), 0);
    const entry = (parse(readFileSync(join(project, ".wfctl-lock.yaml"), "utf8")) as { plugins: Record<string, { path: string; source: string }> }).plugins["declared"];
    expect(entry).toMatchObject({ path: "packages/ws-plugin/bin/plugin.mjs", source: "package:@acme/ws-plugin" });
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config]), 0);
  });

  it("refuses a locked package whose files were swapped for a link out of the project, same content or not", async () => {
    const bin = join(project, "packages", "ws-plugin", "bin");
    const outside = join(sandbox.dir, "elsewhere", "ws-bin");
    cpSync(bin, outside, { recursive: true });
    renameSync(bin, `${bin}.orig`);
    symlinkSync(outside, bin);
    expectExit(await sandbox.cli.run(["daemon", "stop"]), 0);
    const error = errorOf(await sandbox.cli.run(["infra", "plan", "-c", config, "--json"]));
    expect(error.code).toBe("PLUGIN_NOT_FOUND");
    expect(error.message).toContain(`${join(bin, "plugin.mjs")} leads to ${join(outside, "plugin.mjs")}, outside the project directory ${dirname(config)}`);
  });
});
