// Issue 18, acceptance check 1: wfctl installs and runs anywhere. The
// repository is packed (`npm pack`) and installed from the tarball
// (`npm install -g`, into a prefix of its own); then, in a directory outside
// the repository, with only that prefix's bin and node on PATH and a HOME and
// runtime directory of its own, the installed wfctl runs the quickstart
// through a daemon it starts, and `daemon stop` leaves no process behind.
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { type CliResult, expectExit, runProgram } from "../helpers/cli.js";
import { type PackedWfctl, importedPackages, installGlobally, packWfctl } from "../helpers/package.js";
import { QUICKSTART, tempDir } from "../helpers/paths.js";
import { commandLine, isAlive, processesMatching, waitFor } from "../helpers/processes.js";

/** Packing, then installing 100-odd packages from npm's cache on a busy machine. */
const INSTALL_TIMEOUT_MS = 240_000;

describe("the wfctl package, packed and installed with npm install -g", () => {
  let temp: ReturnType<typeof tempDir> | undefined;
  let packed: PackedWfctl;
  /** The installed package: <prefix>/lib/node_modules/wfctl. */
  let installed: string;
  let project: string;
  let env: Record<string, string> | undefined;
  let daemonPid = 0;
  let pluginPid = 0;

  /** Runs an installed executable by name, as a user's shell would find it on PATH. */
  const run = (command: "wfctl" | "wfctld", args: string[]): Promise<CliResult> => runProgram(command, args, { cwd: project, env: env! });

  beforeAll(async () => {
    temp = tempDir("wft-pkg-");
    const dir = temp.path;
    packed = await packWfctl(dir);
    const prefix = join(dir, "prefix");
    installed = await installGlobally(packed.tarball, prefix);
    // node alone in a directory: nothing of the checkout (nor a wfctl linked
    // into node's own bin directory) is reachable.
    const nodeDir = join(dir, "node");
    mkdirSync(nodeDir);
    symlinkSync(process.execPath, join(nodeDir, "node"));
    const home = join(dir, "home");
    const runtime = join(dir, "run");
    for (const d of [home, join(dir, "tmp")]) mkdirSync(d);
    mkdirSync(runtime, { mode: 0o700 });
    env = {
      PATH: `${join(prefix, "bin")}:${nodeDir}`,
      HOME: home,
      XDG_RUNTIME_DIR: runtime,
      XDG_CONFIG_HOME: join(home, ".config"),
      XDG_CACHE_HOME: join(home, ".cache"),
      XDG_DATA_HOME: join(home, ".local", "share"),
      XDG_STATE_HOME: join(home, ".local", "state"),
      TMPDIR: join(dir, "tmp"),
      LANG: "C.UTF-8",
    };
    project = join(dir, "quickstart");
    cpSync(QUICKSTART, project, { recursive: true, filter: (src) => !/[/\\](\.wfctl|out|out-staging)$/.test(src) });
  }, INSTALL_TIMEOUT_MS);

  afterAll(async () => {
    // After a failure half-way: the daemon this file started, if any, stops.
    if (env) await run("wfctl", ["daemon", "stop"]);
    temp?.cleanup();
  });

  it("holds the client, the daemon and the local provider: no cloud plugin, test, TypeScript source or source map", () => {
    const { files } = packed;
    expect(files).toEqual(expect.arrayContaining(["client/bin/wfctl.js", "client/bin/package.json", "daemon/bin/wfctld.js", "dist/build-id", "dist/bundle/wfctl.cjs", "dist/bundle/inprocess.cjs", "dist/daemon/main.js", "daemon/bin/package.json", "dist/daemon-bundle/wfctld.cjs", "dist/daemon-bundle/parse-worker.cjs", "dist/daemon-bundle/write-worker.cjs", "dist/daemon-bundle/provider-local/main.cjs"]));
    expect(files.filter((f) => /^plugins\/[^/]+\/bin\//.test(f)).sort()).toEqual(["plugins/provider-local/bin/package.json", "plugins/provider-local/bin/wfctl-provider-local.js"]);
    expect(files.filter((f) => f.startsWith("dist/plugins/") && !/^dist\/plugins\/(provider-local|sdk)\//.test(f))).toEqual([]);
    expect(files.filter((f) => /\.(ts|map|tsbuildinfo)$/.test(f) || /^(test|bench|examples|deploy|dist\/client)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith("proto/") && !f.endsWith(".proto"))).toEqual([]);
  });

  it("runs no script on the user's machine, and imports nothing but its dependencies and Node's own modules", () => {
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { dependencies: Record<string, string>; scripts?: Record<string, string> };
    const installScripts = ["preinstall", "install", "postinstall", "prepare"].filter((name) => pkg.scripts?.[name] !== undefined);
    expect(installScripts, "scripts npm runs when it installs the package").toEqual([]);
    // So no devDependency (rolldown, typescript, vitest…) is needed to run it.
    const undeclared = [...importedPackages(installed)].filter(([name]) => !(name in pkg.dependencies));
    expect(undeclared, "packages imported (with a file importing each) that are not dependencies").toEqual([]);
  });

  it("puts wfctl and wfctld on PATH, and both say the package's version", async () => {
    for (const command of ["wfctl", "wfctld"] as const) {
      const result = await run(command, ["--version"]);
      expectExit(result, 0);
      expect(result.stdout.trim(), command).toBe(WFCTL_VERSION);
    }
  });

  it("runs the quickstart outside the repository: apply, a clean plan, drift after a deleted file, apply --refresh", async () => {
    const apply = await run("wfctl", ["infra", "apply", "-c", "infra.yaml", "--auto-approve"]);
    expectExit(apply, 0);
    expect(apply.stdout).toContain("Apply complete: 3 created");
    const robots = join(project, "out", "site", "robots.txt");
    expect(readFileSync(robots, "utf8")).toBe("User-agent: *\nDisallow:\n");

    expectExit(await run("wfctl", ["infra", "plan", "-c", "infra.yaml", "--detailed-exitcode"]), 0);

    rmSync(robots);
    const drift = await run("wfctl", ["infra", "drift", "-c", "infra.yaml", "--detailed-exitcode"]);
    expectExit(drift, 2);
    expect(drift.stdout).toMatch(/GHOST\s+robots\s+local\.file/);

    const refresh = await run("wfctl", ["infra", "apply", "-c", "infra.yaml", "--refresh", "--auto-approve"]);
    expectExit(refresh, 0);
    expect(refresh.stdout).toContain("Apply complete: 1 created");
    expect(readFileSync(robots, "utf8")).toBe("User-agent: *\nDisallow:\n");
  });

  it("ran the installed daemon and local provider, with its socket in the runtime directory", async () => {
    const status = await run("wfctl", ["daemon", "status", "--json"]);
    expectExit(status, 0);
    const daemon = JSON.parse(status.stdout) as { running: boolean; pid: number; socket_path: string };
    expect(daemon).toMatchObject({ running: true, socket_path: join(env!["XDG_RUNTIME_DIR"]!, "wfctl", "wfctld.sock") });
    daemonPid = daemon.pid;
    expect(commandLine(daemonPid)).toContain(join(installed, "daemon", "bin", "wfctld.js"));

    const list = await run("wfctl", ["plugins", "list", "--json"]);
    expectExit(list, 0);
    const { plugins } = JSON.parse(list.stdout) as { plugins: { name: string; kind: string; version: string; pid: number; state: string }[] };
    const local = plugins.filter((p) => p.name === "local" && p.pid > 0);
    expect(local).toEqual([expect.objectContaining({ kind: "provider", version: WFCTL_VERSION, state: "running" })]);
    pluginPid = local[0]!.pid;
    expect(commandLine(pluginPid)).toContain(join(installed, "plugins", "provider-local", "bin", "wfctl-provider-local.js"));
    // The cloud plugins are not in the package: each row says so, and names the npm package to install.
    const cloud = (JSON.parse(list.stdout) as { plugins: { name: string; state: string; package?: string }[] }).plugins.filter((p) => p.name !== "local");
    expect(cloud).toHaveLength(7);
    for (const p of cloud) expect(p, p.name).toMatchObject({ state: "not_installed", package: expect.stringMatching(/^@wfctl\//) });
    const text = await run("wfctl", ["plugins", "list"]);
    expect(text.stdout).toMatch(/^s3\s+provider\s+-\s+-\s+not_installed\s+0\s+-\s+-\s+npm @wfctl\/provider-s3$/m);
    expect(text.stdout).toContain("not_installed: a plugin that ships as the npm package shown, not inside wfctl.");
  });

  it("daemon stop leaves no process behind: not the daemon, not its plugin", async () => {
    expect(daemonPid, "the daemon's pid, from the test before").toBeGreaterThan(0);
    const stop = await run("wfctl", ["daemon", "stop"]);
    expectExit(stop, 0);
    expect(stop.stdout).toContain(`wfctld stopped (pid ${daemonPid}).`);
    expect(isAlive(daemonPid)).toBe(false);
    await waitFor(() => !isAlive(pluginPid), 5000, `the local provider (pid ${pluginPid}) to exit`);
    expect(processesMatching(temp!.path), "processes naming the test's directory").toEqual([]);
  });
});
