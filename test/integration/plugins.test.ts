// The plugin boundary with real processes: the SDK's handshake and refusal,
// the supervisor's start/stop, failure reporting, deadlines and cancellation
// arriving as an AbortSignal in the plugin, and the local provider's resources.
// (Plugin-served state stores pass the conformance kit in state-conformance.test.ts.)
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginCatalog } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { ErrorCode } from "../../proto/errors.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { Action, DriftClass, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { callUnary, connect } from "../../proto/grpc.js";
import { decodeJsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, PLUGIN_ENV } from "../../proto/versions.js";
import { LOCAL_PROVIDER, tempDir } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";
import { rejectionOf } from "../helpers/errors.js";
import { fixture, quiet, supervisorsStoppedAfterEach } from "../helpers/supervisors.js";

const failure = rejectionOf;
const noSetup = async () => {};
const supervisor = supervisorsStoppedAfterEach();

describe("plugin SDK, run as a process", () => {
  it("refuses to run when started by hand, and says why", async () => {
    const env = { ...process.env };
    delete env[MAGIC_COOKIE_KEY];
    const child = spawn(process.execPath, [LOCAL_PROVIDER], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain('wfctl plugin "local"');
    expect(stderr).toContain("not by hand");
    expect(stderr).toContain(MAGIC_COOKIE_KEY);
  });

  it("refuses a host that offers no protocol version it speaks, naming both sides' versions", async () => {
    const dir = tempDir("wft-sdk-");
    try {
      const child = spawn(process.execPath, [LOCAL_PROVIDER], {
        env: { ...process.env, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, [PLUGIN_ENV.socketDir]: dir.path, [PLUGIN_ENV.protocolVersions]: "7,8" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      expect(await new Promise((resolve) => child.once("close", resolve))).toBe(1);
      expect(stderr).toContain('incompatible plugin protocol: host speaks version(s) [7, 8], plugin "local" speaks [1]');
    } finally {
      dir.cleanup();
    }
  });

  it("prints one go-plugin handshake line, logs JSON lines on stderr, and exits 0 on SIGTERM", async () => {
    const dir = tempDir("wft-sdk-");
    try {
      const child = spawn(process.execPath, [LOCAL_PROVIDER], {
        env: { ...process.env, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, [PLUGIN_ENV.socketDir]: dir.path, [PLUGIN_ENV.protocolVersions]: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const stderrLines: string[] = [];
      createInterface({ input: child.stderr }).on("line", (l) => stderrLines.push(l));
      const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once("line", resolve));
      const match = /^1\|1\|unix\|(.+)\|grpc$/.exec(line);
      expect(match, `handshake line: ${line}`).not.toBeNull();
      const socket = (match as RegExpExecArray)[1] as string;
      expect(dirname(socket)).toBe(dir.path);
      expect(statSync(socket).isSocket()).toBe(true);

      const connection = connect(`unix://${socket}`);
      const health = await callUnary(connection, Health.method.check, { service: IaCProvider.typeName }, { deadline: new Date(Date.now() + 5000) });
      expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      connection.close();

      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal })),
      );
      child.kill("SIGTERM");
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(existsSync(socket)).toBe(false);
      expect(stderrLines.length).toBeGreaterThan(0);
      for (const l of stderrLines) {
        const entry = JSON.parse(l) as { level: unknown; msg: unknown; plugin?: unknown };
        expect(entry.msg).toBeTypeOf("string");
        expect(entry.level).toBeDefined();
      }
      expect(stderrLines.some((l) => l.includes('"serving"'))).toBe(true);
    } finally {
      dir.cleanup();
    }
  });
});

describe("plugin supervisor", () => {
  it("starts the local provider: handshake, health, info; stops it with the daemon", async () => {
    const s = supervisor();
    const instance = await s.acquire(s.catalog.get("provider", "local"), "k1", noSetup);
    const pid = instance.pid as number;
    expect(isAlive(pid)).toBe(true);
    expect(instance.alive).toBe(true);
    expect(instance.info).toMatchObject({ name: "local", protocolVersion: 1 });
    expect(instance.info?.services).toContain(IaCProvider.typeName);
    expect(instance.info?.services).toContain(IaCDriftDetector.typeName);
    expect(statSync(instance.address).isSocket()).toBe(true);
    const socketDir = dirname(instance.address);
    expect(statSync(socketDir).mode & 0o777).toBe(0o700);

    // Concurrent acquires for the same configuration share one process.
    const again = await Promise.all([s.acquire(s.catalog.get("provider", "local"), "k1", noSetup), s.acquire(s.catalog.get("provider", "local"), "k1", noSetup)]);
    expect(again.every((i) => i === instance)).toBe(true);
    expect(s.runningCount()).toBe(1);

    await s.stopAll();
    expect(isAlive(pid)).toBe(false);
    expect(instance.state).toBe("stopped");
    expect(existsSync(socketDir)).toBe(false);
  });

  it("reports a plugin that exits before its handshake, quoting its last stderr lines", async () => {
    const s = supervisor([fixture("crash-before-handshake")]);
    const err = await failure(s.acquire(s.catalog.get("provider", "crash-before-handshake"), "k", noSetup));
    expect(err.code).toBe(ErrorCode.PLUGIN_HANDSHAKE_FAILED);
    expect(err.message).toContain('plugin "crash-before-handshake"');
    expect(err.message).toContain("exited with code 3 before completing its handshake");
    expect(err.message).toContain("fatal: credentials file /nonexistent/credentials is missing");
    expect(err.message).toContain("loading configuration from /etc/fixture.conf");
  });

  it("gives up on a plugin that never completes its handshake, and kills it", async () => {
    // Long enough for a loaded machine to start node and print the fixture's one line.
    const s = supervisor([fixture("never-handshakes")], { handshakeTimeoutMs: 3000, stopGraceMs: 500 });
    const acquiring = s.acquire(s.catalog.get("provider", "never-handshakes"), "k", noSetup);
    const err = await failure(acquiring);
    expect(err.code).toBe(ErrorCode.PLUGIN_HANDSHAKE_FAILED);
    expect(err.message).toContain("3000 ms");
    expect(err.message).toContain("thinking about it");
    const [view] = s.list();
    const pid = view?.slot?.instance?.pid as number;
    expect(pid).toBeGreaterThan(0);
    await waitFor(() => !isAlive(pid), 5000, "the silent plugin to be killed");
    expect(view?.slot?.instance?.state).toBe("failed");
    expect(view?.slot?.state).toBe("failed");
  });

  it("rejects a malformed handshake line, naming it", async () => {
    const s = supervisor([fixture("bad-handshake")], { stopGraceMs: 500 });
    const err = await failure(s.acquire(s.catalog.get("provider", "bad-handshake"), "k", noSetup));
    expect(err.code).toBe(ErrorCode.PLUGIN_HANDSHAKE_FAILED);
    expect(err.message).toContain('"hello, I am not a handshake"');
    expect(err.message).toContain("CORE-VERSION|APP-VERSION|unix|SOCKET-PATH|grpc");
  });

  it("refuses a plugin that answers with a protocol version the host does not speak, naming both", async () => {
    const s = supervisor([fixture("wrong-protocol")], { stopGraceMs: 500 });
    const err = await failure(s.acquire(s.catalog.get("provider", "wrong-protocol"), "k", noSetup));
    expect(err.code).toBe(ErrorCode.PLUGIN_INCOMPATIBLE);
    expect(err.message).toContain("plugin speaks wfctl.plugin protocol version 99, but this host speaks 1");
  });

  it("sends SIGKILL to a plugin that ignores SIGTERM once the grace period is over", async () => {
    const s = supervisor([fixture("ignores-sigterm")], { stopGraceMs: 300 });
    const instance = await s.acquire(s.catalog.get("provider", "ignores-sigterm"), "k", noSetup);
    const pid = instance.pid as number;
    await s.stopAll();
    expect(isAlive(pid)).toBe(false);
    expect(instance.recentLogs().join("\n")).toContain("fixture: ignoring SIGTERM");
  });
});

describe("deadlines and cancellation reach the plugin's handler as an AbortSignal", () => {
  let s: PluginSupervisor;
  let instance: PluginInstance;
  beforeAll(async () => {
    s = new PluginSupervisor(new PluginCatalog([fixture("slow-provider")]), quiet);
    instance = await s.acquire(s.catalog.get("provider", "slow-provider"), "k", async (i) => {
      await i.client(IaCProvider).configure({ configJson: encodeJson({}), workingDir: tmpdir() });
    });
  });
  afterAll(() => s.stopAll());

  const ended = async (operation: string): Promise<Record<string, unknown>> => {
    let found: Record<string, unknown> | undefined;
    await waitFor(
      () => {
        for (const line of instance.recentLogs()) {
          if (!line.includes("fixture: call ended by the host")) continue;
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry["metadata_operation"] === operation) found = entry;
        }
        return found !== undefined;
      },
      5000,
      `the plugin to log the end of operation ${operation}`,
    );
    return found as Record<string, unknown>;
  };
  const read = { resource: { name: "a", type: "slow.thing" }, prior: { providerId: "a", configJson: encodeJson({}), outputsJson: encodeJson({}) } };

  it("a deadline: the caller gets DEADLINE_EXCEEDED and the handler sees the deadline expire", async () => {
    const deadline = new Date(Date.now() + 400);
    const err = await failure(instance.client(IaCProvider).read(read, { deadline, metadata: { "wfctl-operation-id": "op-deadline" } }));
    expect(err.code).toBe(ErrorCode.DEADLINE_EXCEEDED);
    const entry = await ended("op-deadline");
    expect(entry["reason"]).toBe("TimeoutError");
    // The plugin saw the host's deadline. gRPC sends it as a timeout relative
    // to the send, so the plugin's copy is late by the time the call took to
    // arrive: milliseconds, more on a loaded machine; never earlier.
    const skew = new Date(String(entry["deadline"])).getTime() - deadline.getTime();
    expect(skew).toBeGreaterThan(-5);
    expect(skew).toBeLessThan(300);
  });

  it("a cancellation: the caller gets CANCELLED and the handler sees the abort", async () => {
    const controller = new AbortController();
    const call = instance.client(IaCProvider).read(read, { signal: controller.signal, metadata: { "wfctl-operation-id": "op-cancel" } });
    setTimeout(() => controller.abort(), 200);
    const err = await failure(call);
    expect(err.code).toBe(ErrorCode.CANCELLED);
    const entry = await ended("op-cancel");
    expect(entry["reason"]).toBe("AbortError");
    expect(entry["deadline"]).toBeNull();
    // The plugin is still healthy and serving after both.
    expect(instance.alive).toBe(true);
  });
});

describe("local provider plugin", () => {
  let s: PluginSupervisor;
  let instance: PluginInstance;
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "wft-local-"));
    s = new PluginSupervisor(new PluginCatalog(), quiet);
    instance = await s.acquire(s.catalog.get("provider", "local"), "k", async (i) => {
      // `root` is relative to the configuration's directory.
      await i.client(IaCProvider).configure({ configJson: encodeJson({ root: "tree" }), workingDir: root });
    });
  });
  afterAll(async () => {
    await s.stopAll();
    rmSync(root, { recursive: true, force: true });
  });

  const ref = { name: "greeting", type: "local.file" };
  const provider = () => instance.client(IaCProvider);
  const drift = () => instance.client(IaCDriftDetector);

  it("creates, reads, updates, detects drift and deletes a real file", async () => {
    const desired = { path: "hello/greeting.txt", content: "hello\n", mode: "0640" };
    const plan = await provider().plan({ resource: ref, desiredConfigJson: encodeJson(desired) });
    expect(plan.action).toBe(Action.CREATE);
    expect(plan.changes.map((c) => c.field)).toContain("content");

    const created = await provider().apply({ resource: ref, action: Action.CREATE, desiredConfigJson: encodeJson(desired) });
    const file = join(root, "tree", "hello", "greeting.txt");
    expect(created.providerId).toBe(file);
    expect(readFileSync(file, "utf8")).toBe("hello\n");
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const outputs = decodeJsonObject(created.outputsJson, "outputs");
    expect(outputs).toMatchObject({ absolute_path: file, size: 6 });
    const prior = { providerId: created.providerId, configJson: created.appliedConfigJson, outputsJson: created.outputsJson };

    const same = await provider().plan({ resource: ref, desiredConfigJson: encodeJson(desired), prior });
    expect(same.action).toBe(Action.NOOP);
    const inSync = await drift().detectDrift({ resource: ref, prior });
    expect(inSync.result?.class).toBe(DriftClass.IN_SYNC);

    // Someone edits the file behind wfctl's back: config drift, field by field.
    writeFileSync(file, "tampered\n");
    const edited = await drift().detectDrift({ resource: ref, prior });
    expect(edited.result?.class).toBe(DriftClass.CONFIG);
    expect(edited.result?.drifted).toBe(true);
    const field = edited.result?.fields.find((f) => f.field === "content");
    expect(decodeJsonValue(field?.expectedJson ?? new Uint8Array(), "expected")).toBe("hello\n");
    expect(decodeJsonValue(field?.actualJson ?? new Uint8Array(), "actual")).toBe("tampered\n");

    const changed = { ...desired, content: "hello again\n" };
    const update = await provider().plan({ resource: ref, desiredConfigJson: encodeJson(changed), prior });
    expect(update.action).toBe(Action.UPDATE);
    expect(update.changes.map((c) => c.field)).toEqual(["content"]);
    const updated = await provider().apply({ resource: ref, action: Action.UPDATE, desiredConfigJson: encodeJson(changed), prior });
    expect(readFileSync(file, "utf8")).toBe("hello again\n");
    const prior2 = { providerId: updated.providerId, configJson: updated.appliedConfigJson, outputsJson: updated.outputsJson };

    // A new path cannot be an update: it replaces.
    const moved = await provider().plan({ resource: ref, desiredConfigJson: encodeJson({ ...changed, path: "elsewhere.txt" }), prior: prior2 });
    expect(moved.action).toBe(Action.REPLACE);
    expect(moved.changes.find((c) => c.field === "path")?.forcesReplace).toBe(true);

    // Gone behind wfctl's back: read says not found, drift says ghost.
    rmSync(file);
    const gone = await provider().read({ resource: ref, prior: prior2 });
    expect(gone.found).toBe(false);
    expect((await drift().detectDrift({ resource: ref, prior: prior2 })).result?.class).toBe(DriftClass.GHOST);

    writeFileSync(file, "back\n");
    await provider().apply({ resource: ref, action: Action.DELETE, prior: prior2 });
    expect(existsSync(file)).toBe(false);
  });

  it("makes its root again when it was removed since Configure (a warm instance, the next command)", async () => {
    rmSync(join(root, "tree"), { recursive: true, force: true });
    const created = await provider().apply({ resource: ref, action: Action.CREATE, desiredConfigJson: encodeJson({ path: "again.txt", content: "again\n" }) });
    expect(readFileSync(join(root, "tree", "again.txt"), "utf8")).toBe("again\n");
    rmSync(join(root, "tree"), { recursive: true, force: true });
    const dir = await provider().apply({ resource: { name: "d", type: "local.directory" }, action: Action.CREATE, desiredConfigJson: encodeJson({ path: "d" }) });
    expect(statSync(join(root, "tree", "d")).isDirectory()).toBe(true);
    for (const made of [created, dir]) expect(made.providerId.startsWith(join(root, "tree"))).toBe(true);
  });

  it("manages directories, and refuses paths outside its root", async () => {
    const dirRef = { name: "site", type: "local.directory" };
    const created = await provider().apply({ resource: dirRef, action: Action.CREATE, desiredConfigJson: encodeJson({ path: "site" }) });
    expect(statSync(join(root, "tree", "site")).isDirectory()).toBe(true);
    const prior = { providerId: created.providerId, configJson: created.appliedConfigJson, outputsJson: created.outputsJson };
    expect((await provider().read({ resource: dirRef, prior })).found).toBe(true);
    await provider().apply({ resource: dirRef, action: Action.DELETE, prior });
    expect(existsSync(join(root, "tree", "site"))).toBe(false);

    const err = await failure(
      provider().apply({ resource: { name: "escape", type: "local.file" }, action: Action.CREATE, desiredConfigJson: encodeJson({ path: "../../etc/x", content: "" }) }),
    );
    expect(err.message).toContain("escape (local.file)");
    expect(err.message).toContain("root");
  });

  it("rejects a configuration that does not match the resource type's schema, naming the field", async () => {
    const err = await failure(
      provider().plan({ resource: { name: "bad", type: "local.file" }, desiredConfigJson: encodeJson({ path: "x", colour: "red" }) }),
    );
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toContain('field "colour"');
  });
});
