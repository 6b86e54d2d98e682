// The quickstart as a user runs it: the real wfctl executable, a real wfctld
// it starts on demand, the real local provider plugin process, real files.
// Acceptance checks 2–6 of the walking skeleton.
import { execFile } from "node:child_process";
import { cpSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { QUICKSTART, ROOT } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";

interface QuickstartModule {
  name: string;
  type: string;
  config?: { path?: string; content?: string; mode?: string };
}

/** A fresh copy of examples/quickstart (only its tracked files, never state from a local run). */
function copyQuickstart(into: string): string {
  const dir = join(into, "quickstart");
  cpSync(QUICKSTART, dir, { recursive: true, filter: (src) => !/[/\\](\.wfctl|out|out-staging)$/.test(src) });
  return join(dir, "infra.yaml");
}

function declaredFiles(configPath: string): QuickstartModule[] {
  const doc = parse(readFileSync(configPath, "utf8")) as { modules: QuickstartModule[] };
  return doc.modules.filter((m) => m.type === "local.file");
}

/** The quickstart's checks, with or without a daemon. */
function quickstartFlow(mode: "daemon" | "no-daemon"): void {
  const extra = mode === "no-daemon" ? ["--no-daemon"] : [];
  const sandbox = cliSandbox();
  let config: string;
  const run = (args: string[]) => sandbox.cli.run([...args, ...extra], { cwd: ROOT });
  beforeAll(() => {
    config = copyQuickstart(sandbox.dir);
  });

  it("apply --auto-approve creates the files with their declared content, relative to the config's directory", async () => {
    const result = await run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(result, 0);
    expect(result.stdout).toContain("Apply complete: 3 created");
    const out = join(sandbox.dir, "quickstart", "out");
    expect(statSync(join(out, "site")).isDirectory()).toBe(true);
    const files = declaredFiles(config);
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) {
      const path = join(out, file.config?.path ?? "");
      expect(readFileSync(path, "utf8"), path).toBe(file.config?.content);
      if (file.config?.mode) expect(statSync(path).mode & 0o777).toBe(Number.parseInt(file.config.mode, 8));
    }
  });

  it("plan --detailed-exitcode exits 0 when nothing changed", async () => {
    const result = await run(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(result, 0);
    expect(result.stdout).toContain("No changes");
  });

  it("plan --detailed-exitcode exits 2 and shows the field diff after a content change", async () => {
    const original = readFileSync(config, "utf8");
    expect(original).toContain("Hello from wfctl.");
    writeFileSync(config, original.replace("Hello from wfctl.", "Hello from the test."));
    const result = await run(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(result, 2);
    expect(result.stdout).toMatch(/~\s+index\s+local\.file/);
    expect(result.stdout).toContain("content:");
    expect(result.stdout).toContain("Hello from wfctl.");
    expect(result.stdout).toContain("Hello from the test.");
    expect(result.stdout).toContain("1 to update");
    // The JSON plan says the same, field by field.
    const { report: value } = await sandbox.cli.events<{ changes: { name: string; action: string; fields: { field: string; before: unknown; after: unknown }[] }[] }>(
      ["infra", "plan", "-c", config, ...extra],
      { cwd: ROOT },
    );
    const index = value.changes.find((c) => c.name === "index");
    expect(index?.action).toBe("update");
    expect(index?.fields).toEqual([expect.objectContaining({ field: "content" })]);
    expect(String(index?.fields[0]?.after)).toContain("Hello from the test.");
    expect(value.changes.filter((c) => c.action !== "noop").map((c) => c.name)).toEqual(["index"]);
  });

  it("apply without --auto-approve and without a terminal refuses and changes nothing", async () => {
    const result = await run(["infra", "apply", "-c", config]);
    expectExit(result, 1);
    expect(result.stderr).toContain("without --auto-approve");
    expect(readFileSync(join(sandbox.dir, "quickstart", "out", "site", "index.html"), "utf8")).toContain("Hello from wfctl.");
  });

  it("apply brings the file to the new content; the plan is clean again", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(readFileSync(join(sandbox.dir, "quickstart", "out", "site", "index.html"), "utf8")).toContain("Hello from the test.");
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("state list --json lists every applied resource", async () => {
    const { result, value } = await sandbox.cli.json<{ resources: { name: string; type: string; status: string; provider_id: string }[] }>(
      ["infra", "state", "list", "-c", config, ...extra],
      { cwd: ROOT },
    );
    expectExit(result, 0);
    const byName = Object.fromEntries(value.resources.map((r) => [r.name, r]));
    expect(Object.keys(byName).sort()).toEqual(["index", "robots", "site"]);
    expect(byName["site"]).toMatchObject({ type: "local.directory", status: "active" });
    expect(byName["index"]).toMatchObject({ type: "local.file", provider_id: join(sandbox.dir, "quickstart", "out", "site", "index.html") });
  });

  it("destroy --auto-approve removes every file and empties the state", async () => {
    const result = await run(["infra", "destroy", "-c", config, "--auto-approve"]);
    expectExit(result, 0);
    expect(existsSync(join(sandbox.dir, "quickstart", "out", "site"))).toBe(false);
    const { value } = await sandbox.cli.json<{ resources: unknown[] }>(["infra", "state", "list", "-c", config, ...extra], { cwd: ROOT });
    expect(value.resources).toEqual([]);
  });

  if (mode === "no-daemon") {
    it("never started a daemon", () => {
      expect(existsSync(sandbox.cli.socket)).toBe(false);
    });
  }
}

describe("quickstart through a daemon started on demand", () => {
  quickstartFlow("daemon");
});

describe("quickstart with --no-daemon", () => {
  quickstartFlow("no-daemon");
});

describe("daemon lifecycle seen from the CLI", () => {
  const sandbox = cliSandbox();

  it("plugins list shows the running local provider with a live pid; daemon stop leaves no process behind; the next command starts a fresh daemon", async () => {
    const config = copyQuickstart(sandbox.dir);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { cwd: ROOT }), 0);

    const { value: status } = await sandbox.cli.json<{ running: boolean; pid: number; version: string; socket_path: string }>(["daemon", "status"]);
    expect(status).toMatchObject({ running: true, version: WFCTL_VERSION, socket_path: sandbox.cli.socket });
    expect(isAlive(status.pid)).toBe(true);

    const { result, value } = await sandbox.cli.json<{ plugins: { name: string; kind: string; version: string; pid: number; state: string }[] }>(["plugins", "list"]);
    expectExit(result, 0);
    const local = value.plugins.filter((p) => p.name === "local" && p.pid > 0);
    expect(local).toHaveLength(1);
    expect(local[0]).toMatchObject({ kind: "provider", version: WFCTL_VERSION, state: "running" });
    const pluginPid = local[0]?.pid as number;
    expect(isAlive(pluginPid)).toBe(true);

    const stopped = await sandbox.cli.run(["daemon", "stop"]);
    expectExit(stopped, 0);
    expect(isAlive(status.pid)).toBe(false);
    await waitFor(() => !isAlive(pluginPid), 5000, `plugin pid ${pluginPid} to be gone`);
    expect(existsSync(sandbox.cli.socket)).toBe(false);

    const { value: stoppedStatus } = await sandbox.cli.json<{ running: boolean }>(["daemon", "status"]);
    expect(stoppedStatus.running).toBe(false);

    // Any command brings a fresh daemon back by itself.
    const { result: again, value: plugins } = await sandbox.cli.json<{ plugins: { name: string }[] }>(["plugins", "list"]);
    expectExit(again, 0);
    expect(plugins.plugins.map((p) => p.name)).toContain("local");
    const { value: fresh } = await sandbox.cli.json<{ running: boolean; pid: number }>(["daemon", "status"]);
    expect(fresh.running).toBe(true);
    expect(fresh.pid).not.toBe(status.pid);
  });

  it("npx finds the wfctl executable through package.json bin", async () => {
    const { stdout } = await promisify(execFile)("npx", ["--no-install", "wfctl", "--version"], { cwd: ROOT });
    expect(stdout.trim()).toBe(WFCTL_VERSION);
  });

  it("an unknown flag is a usage error (exit 64) naming the flag", async () => {
    const result = await sandbox.cli.run(["infra", "plan", "--frobnicate"]);
    expectExit(result, 64);
    expect(result.stderr).toContain("--frobnicate");
  });
});

describe("quickstart with --env staging", () => {
  const sandbox = cliSandbox();

  it("resolves overrides (provider root, a renamed resource) and keeps staging state apart from the default", async () => {
    const config = copyQuickstart(sandbox.dir);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--env", "staging", "--auto-approve"], { cwd: ROOT }), 0);
    const staging = join(sandbox.dir, "quickstart", "out-staging", "site");
    expect(readFileSync(join(staging, "robots.txt"), "utf8")).toBe("User-agent: *\nDisallow: /\n");
    expect(existsSync(join(sandbox.dir, "quickstart", "out"))).toBe(false);

    const { value } = await sandbox.cli.json<{ namespace: string; resources: { name: string }[] }>(["infra", "state", "list", "-c", config, "--env", "staging"]);
    expect(value.namespace).toBe("staging");
    expect(value.resources.map((r) => r.name).sort()).toEqual(["index", "robots-staging", "site"]);
    const { value: base } = await sandbox.cli.json<{ resources: unknown[] }>(["infra", "state", "list", "-c", config]);
    expect(base.resources).toEqual([]);

    // The default environment plans everything as new: its state is separate.
    const plan = await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(plan, 2);
    expect(plan.stdout).toContain("3 to create");
  });
});
