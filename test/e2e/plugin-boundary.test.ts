// The plugin boundary under stress, end to end: a project plugin declared in
// wfctl.yaml and pinned in .wfctl-lock.yaml; a tampered plugin refused; a
// deadline, a Ctrl-C and a plugin killed mid-apply, each leaving state that
// describes exactly what exists and the lock released.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS, WFCTLD } from "../helpers/paths.js";
import { runInBackground } from "../helpers/terminal.js";
import { isAlive, waitFor } from "../helpers/processes.js";

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** infra.yaml: a → b → c (slow) → d (or c independent of b), files under ./out, state beside it. */
function infra(delayC: number, cAfterB = true): string {
  const file = (name: string, deps: string[], delay = 0) =>
    `  - name: ${name}\n    type: slowfs.file\n    provider: files\n    depends_on: [${deps.join(", ")}]\n` +
    `    config: { path: ${name}.txt, content: "${name}\\n", delay_ms: ${delay} }\n`;
  return (
    "modules:\n" +
    "  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: .wfctl/state }\n" +
    "  - name: files\n    type: iac.provider\n    config: { provider: slowfs, root: out }\n" +
    file("a", []) +
    file("b", ["a"]) +
    file("c", cAfterB ? ["b"] : [], delayC) +
    file("d", ["c"])
  );
}

describe("project plugins and the plugin boundary", () => {
  const sandbox = cliSandbox("wft-pb-");
  let dir: string;
  let config: string;
  let plugin: string;
  const out = (name: string) => join(dir, "out", name);
  const run = (args: string[]) => sandbox.cli.run(args);

  const stateNames = async (): Promise<string[]> => Object.keys(await stateRecords()).sort();
  /** Each record's status, by name. */
  const stateRecords = async (): Promise<Record<string, string>> => {
    const { value } = await sandbox.cli.json<{ resources: { name: string; status: string }[] }>(["infra", "state", "list", "-c", config]);
    return Object.fromEntries(value.resources.map((r) => [r.name, r.status]));
  };
  /** c's create was stopped, and the plugin's answer (an error after the abort) does not prove it was not made: recorded as unknown. */
  const cUnconfirmed = { a: "active", b: "active", c: "unknown" };
  const locksHeld = () => {
    const locks = join(dir, ".wfctl", "state", "default", "locks");
    return existsSync(locks) ? readdirSync(locks) : [];
  };
  const reset = async (delayC: number, cAfterB = true) => {
    writeFileSync(config, infra(delayC, cAfterB));
    expectExit(await run(["infra", "destroy", "-c", config, "--auto-approve"]), 0);
    // Forget the evidence of earlier runs.
    for (const f of existsSync(join(dir, "out")) ? readdirSync(join(dir, "out")) : []) if (f.startsWith(".")) rmSync(out(f));
  };

  const applyInBackground = () => runInBackground(["infra", "apply", "-c", config, "--auto-approve"], { WFCTL_SOCKET: sandbox.cli.socket });
  /** The abort reason the plugin's create of c recorded (it may write it a moment after the daemon answered). */
  const abortSeenByPlugin = async () => {
    await waitFor(() => existsSync(out(".aborted-c")) && readFileSync(out(".aborted-c"), "utf8") !== "", 10_000, "the plugin to record the abort");
    return readFileSync(out(".aborted-c"), "utf8");
  };
  const cStarted = () => waitFor(() => existsSync(out(".started-c")) && readFileSync(out(".started-c"), "utf8") !== "", 15_000, "the create of c to start");

  beforeAll(() => {
    dir = sandbox.dir;
    config = join(dir, "infra.yaml");
    plugin = join(dir, "slowfs-plugin.mjs");
    // The plugin the project ships: its own file, so the test can tamper with it.
    writeFileSync(plugin, `// The project's slowfs plugin.\nimport ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))};\n`);
    writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./slowfs-plugin.mjs\n    version: 2.0.0\n");
    writeFileSync(config, infra(0));
  });

  it("refuses a declared plugin that is not locked, saying how to lock it", async () => {
    const result = await run(["infra", "plan", "-c", config]);
    expectExit(result, 1);
    expect(result.stderr).toContain(`plugin "slowfs" is not in ${join(dir, ".wfctl-lock.yaml")}`);
    expect(result.stderr).toContain("wfctl plugins lock");
  });

  it("plugins lock pins the resolved path, the version the plugin reports, and the checksum of its file", async () => {
    const result = await run(["plugins", "lock", "-c", config]);
    expectExit(result, 0);
    expect(result.stdout).toContain("slowfs");
    const lock = parse(readFileSync(join(dir, ".wfctl-lock.yaml"), "utf8")) as { plugins: Record<string, Record<string, unknown>> };
    expect(lock.plugins["slowfs"]).toEqual({
      kind: "provider",
      source: "source:./slowfs-plugin.mjs",
      path: "slowfs-plugin.mjs",
      node: true,
      version: "2.0.0",
      root: "slowfs-plugin.mjs",
      checksums: { any: `sha256:${sha256(plugin)}` },
      args: [],
      env: {},
      reads_env: [],
    });
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(readFileSync(out("d.txt"), "utf8")).toBe("d\n");
  });

  it("refuses a tampered plugin with both checksums; plugins lock pins the new file", async () => {
    const pinned = sha256(plugin);
    expectExit(await run(["daemon", "stop"]), 0); // the running instance was checked when it started
    appendFileSync(plugin, "// one more line\n");
    const actual = sha256(plugin);
    const refused = await run(["infra", "plan", "-c", config]);
    expectExit(refused, 1);
    expect(refused.stderr).toContain(pinned);
    expect(refused.stderr).toContain(actual);
    expect(refused.stderr).toContain("wfctl plugins lock");
    expectExit(await run(["plugins", "lock", "-c", config]), 0);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("--timeout: the client returns at about the deadline, the plugin saw it, state is consistent and the lock released", async () => {
    await reset(10_000, false); // c starts at once: the 2 s are all its own
    const started = Date.now();
    const { result, report: value, summary } = await sandbox.cli.events<{
      stopped?: { code: string; reason: string };
      results: { name: string; outcome: string; skipped_reason?: string }[];
    }>(["infra", "apply", "-c", config, "--auto-approve", "--timeout", "2s"]);
    const elapsed = Date.now() - started;
    expectExit(result, 124);
    expect(elapsed).toBeLessThan(8_000); // a 10 s create, stopped by a 2 s budget
    expect(value.stopped?.code).toBe("DEADLINE_EXCEEDED");
    expect(summary).toMatchObject({ ok: false, error: { code: "DEADLINE_EXCEEDED" }, failed: 1, skipped: 1 });
    const outcome = Object.fromEntries(value.results.map((r) => [r.name, r.outcome]));
    expect(outcome).toEqual({ a: "succeeded", b: "succeeded", c: "failed", d: "skipped" });
    expect(await abortSeenByPlugin()).toBe("TimeoutError");
    expect(existsSync(out("c.txt"))).toBe(false);
    expect(await stateRecords()).toEqual(cUnconfirmed);
    expect(locksHeld()).toEqual([]);
    // The next plan reads c, does not find it, and plans its create.
    const { report: plan } = await sandbox.cli.events<{ changes: { name: string; action: string; recorded_status?: string; recorded_note?: string }[] }>(["infra", "plan", "-c", config]);
    expect(plan.changes.find((c) => c.name === "c")).toMatchObject({ action: "create", recorded_status: "unknown" });
    expect(plan.changes.find((c) => c.name === "c")?.recorded_note).toContain("not found, so it is created");
  });

  it("each plugin call carries the operation id, environment and caller, readable through the SDK", async () => {
    await reset(0);
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const seen = JSON.parse(readFileSync(out(".context-a"), "utf8")) as { operation: { id: string; name: string; environment: string; caller: string } };
    expect(seen.operation.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.operation.name).toBe("apply");
    expect(seen.operation.environment).toBe("");
    expect(seen.operation.caller).toContain("@");
    const other = JSON.parse(readFileSync(out(".context-d"), "utf8")) as { operation: { id: string } };
    expect(other.operation.id).toBe(seen.operation.id); // one operation, one id
  });

  it("a client that dies mid-apply: the operation goes on to the end, state records all of it and the lock is released", async () => {
    await reset(2_000);
    const apply = applyInBackground();
    await cStarted();
    apply.signal("SIGKILL");
    await apply.exit;
    await waitFor(() => existsSync(out("d.txt")), 15_000, "the apply to finish without its client");
    await waitFor(() => locksHeld().length === 0, 10_000, "the lock to be released");
    expect(await stateNames()).toEqual(["a", "b", "c", "d"]);
    expect(existsSync(out(".aborted-c"))).toBe(false);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("Ctrl-C: cancellation reaches the plugin, what was done is reported and recorded, the lock is released", async () => {
    await reset(10_000);
    const apply = applyInBackground();
    await cStarted();
    apply.signal("SIGINT");
    const exit = await apply.exit;
    const { stdout, stderr } = apply.output;
    expect(exit, stderr).toBe(130);
    expect(stderr).toContain("Interrupt received");
    expect(stderr).toContain("apply stopped before finishing: cancelled");
    expect(stdout).toMatch(/c\s+slowfs\.file: FAILED to create/);
    expect(stdout).toMatch(/d\s+slowfs\.file: skipped/);
    expect(await abortSeenByPlugin()).toBe("AbortError");
    expect(existsSync(out("c.txt"))).toBe(false);
    expect(await stateRecords()).toEqual(cUnconfirmed);
    expect(locksHeld()).toEqual([]);
  });

  it("a plugin killed mid-apply: the apply fails naming it, state lists what was done, the lock is released, and after the restart the next apply converges", async () => {
    await reset(3_000);
    const apply = applyInBackground();
    await cStarted();
    process.kill(Number(readFileSync(out(".started-c"), "utf8")), "SIGKILL");
    const exit = await apply.exit;
    const { stdout, stderr } = apply.output;
    expect(exit, `${stdout}\n${stderr}`).toBe(4);
    expect(stderr).toContain('plugin "slowfs"');
    expect(stderr).toContain("plugin unavailable");
    expect(stdout).toMatch(/d\s+slowfs\.file: skipped \(create not attempted: c failed\)/);
    expect(stderr).toContain("apply stopped before finishing: a plugin became unavailable while applying c");
    expect(await stateRecords()).toEqual(cUnconfirmed);
    expect(locksHeld()).toEqual([]);

    await waitFor(async () => {
      const { value } = await sandbox.cli.json<{ plugins: { name: string; state: string; restarts: number }[] }>(["plugins", "list"]);
      return value.plugins.some((p) => p.name === "slowfs" && p.state === "running" && p.restarts >= 1);
    }, 15_000, "slowfs to be restarted");
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(await stateNames()).toEqual(["a", "b", "c", "d"]);
    expect(readFileSync(out("c.txt"), "utf8")).toBe("c\n");
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });


  it("a daemon told to stop lets a running apply finish within its grace period, then exits", async () => {
    await reset(1_500);
    const { value: status } = await sandbox.cli.json<{ pid: number }>(["daemon", "status"]);
    const apply = applyInBackground();
    await cStarted();
    process.kill(status.pid, "SIGTERM");
    expect(await apply.exit, apply.output.stderr).toBe(0);
    expect(apply.output.stdout).toContain("Apply complete: 4 created");
    await waitFor(() => !isAlive(status.pid), 10_000, "the daemon to exit");
    expect(await stateNames()).toEqual(["a", "b", "c", "d"]);
    expect(locksHeld()).toEqual([]);
  });

  it("after the grace period, running operations are cancelled: the client is told, state records what was done", async () => {
    await reset(10_000);
    expectExit(await run(["daemon", "stop"]), 0);
    const daemon = spawn(process.execPath, [WFCTLD, "--socket", sandbox.cli.socket, "--shutdown-grace", "500ms"], { stdio: "ignore" });
    const daemonExit = new Promise((resolve) => daemon.once("exit", resolve));
    await waitFor(async () => (await run(["daemon", "status"])).code === 0, 15_000, "wfctld to serve");
    const apply = applyInBackground();
    await cStarted();
    daemon.kill("SIGTERM");
    expect(await apply.exit, apply.output.stderr).toBe(4);
    expect(apply.output.stderr).toContain("wfctld is shutting down (received SIGTERM) and cancelled this operation after its 0.5 s grace period");
    await daemonExit;
    expect(await abortSeenByPlugin()).toBe("AbortError");
    expect(await stateRecords()).toEqual(cUnconfirmed);
    expect(locksHeld()).toEqual([]);
  });

  it("operators see the running operation and its lock, and inspect the plugin and its logs", async () => {
    await reset(2_500);
    const apply = applyInBackground();
    await cStarted();
    const { value: status } = await sandbox.cli.json<{ operations: { operation: string; config: string; caller: string; lock?: { id: string; scope: string } }[] }>([
      "daemon",
      "status",
    ]);
    expect(status.operations).toHaveLength(1);
    expect(status.operations[0]).toMatchObject({ operation: "apply", config });
    expect(status.operations[0]?.lock?.id).toMatch(/.+/);
    expect(status.operations[0]?.lock?.scope).toContain('lock "stack"');

    const { value: inspected } = await sandbox.cli.json<{
      plugins: { name: string; state: string; checksum: string; lockfile: string; resource_types: { type: string; fields: string[] }[]; pid: number; recent_logs: string[] }[];
    }>(["plugins", "inspect", "slowfs"]);
    const running = inspected.plugins.find((p) => p.state === "running");
    expect(running?.checksum).toBe(`sha256:${sha256(plugin)}`);
    expect(running?.lockfile).toBe(join(dir, ".wfctl-lock.yaml"));
    expect(running?.resource_types).toEqual([{ type: "slowfs.file", description: "", fields: ["path", "content", "delay_ms"] }]);
    expect(running?.recent_logs.some((l) => l.includes('"serving"'))).toBe(true);

    const logs = await sandbox.cli.run(["plugins", "logs", "slowfs", "--json", "--tail", "5"]);
    expect(logs.code).toBe(0);
    const lines = logs.stdout.trim().split("\n").map((l) => JSON.parse(l) as { plugin: string; pid: number; line: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.plugin === "slowfs")).toBe(true);
    expect(lines.some((l) => l.pid === running?.pid)).toBe(true);

    expect(await apply.exit).toBe(0);
    const { value: after } = await sandbox.cli.json<{ operations: unknown[] }>(["daemon", "status"]);
    expect(after.operations).toEqual([]);
  });

  it("a drift detection that fails mid-way aborts apply --refresh with no state change", async () => {
    await reset(0);
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    rmSync(out("a.txt")); // a ghost that would be pruned...
    writeFileSync(out(".fail-read-c"), ""); // ...but reading c fails
    const stateDir = join(dir, ".wfctl", "state", "default", "resources");
    const before = readdirSync(stateDir).map((f) => `${f}:${sha256(join(stateDir, f))}`);
    try {
      const result = await run(["infra", "apply", "-c", config, "--refresh", "--auto-approve"]);
      expectExit(result, 1);
      expect(result.stderr).toContain("drift detection failed for c");
      expect(result.stderr).toContain("the test made this read fail");
      expect(result.stderr).not.toContain("AUDIT");
      expect(readdirSync(stateDir).map((f) => `${f}:${sha256(join(stateDir, f))}`)).toEqual(before);
      expect(locksHeld()).toEqual([]);
    } finally {
      rmSync(out(".fail-read-c"));
    }
  });
});
