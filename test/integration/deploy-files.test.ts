// The files under deploy/, checked with the tools that read them where this
// machine has them, and run for real where they describe a command:
// - the systemd units pass `systemd-analyze verify --user` (no systemd needs
//   to run: it loads the units offline and checks every setting and that
//   the ExecStart executable exists), and their ExecStart lines, expanded as
//   systemd would, start a real wfctld that wfctl can use, the socket unit's
//   under systemd-socket-activate at its ListenStream;
// - the Dockerfile copies everything its build needs before the step that
//   needs it (no Docker daemon here to build it);
// - the OpenTelemetry Collector config is consistent (no otelcol here).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { afterEach, describe, expect, it } from "vitest";
import { builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { Cli, expectExit } from "../helpers/cli.js";
import { OtlpCollector } from "../helpers/otlp-collector.js";
import { QUICKSTART, ROOT, tempDir } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";

const run = promisify(execFile);
const SYSTEMD = join(ROOT, "deploy", "systemd");
const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
const ACTIVATE = "/usr/bin/systemd-socket-activate";

const children: ChildProcess[] = [];
const cleanups: (() => void | Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
  }
});

function copyQuickstart(into: string): void {
  cpSync(QUICKSTART, join(into, "quickstart"), { recursive: true, filter: (src) => !/[/\\](\.wfctl|out|out-staging)$/.test(src) });
}

function temp(prefix: string): string {
  const dir = tempDir(prefix);
  cleanups.push(dir.cleanup);
  return dir.path;
}

/** A unit file as sections of key → values (a key may repeat). */
function unitFile(name: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of readFileSync(join(SYSTEMD, name), "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = line.match(/^\[(.+)\]$/);
    if (header) {
      section = sections[header[1]!] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq < 0) throw new Error(`${name}: cannot read line ${JSON.stringify(raw)}`);
    (section[line.slice(0, eq)] ??= []).push(line.slice(eq + 1));
  }
  return sections;
}

const one = (unit: Record<string, Record<string, string[]>>, section: string, key: string): string => {
  const values = unit[section]?.[key];
  if (values?.length !== 1) throw new Error(`expected one ${key}= in [${section}], found ${JSON.stringify(values)}`);
  return values[0]!;
};

/**
 * A unit's ExecStart as argv, expanded as systemd expands it for this user:
 * %t is the runtime directory, %h the home directory, ${WFCTL_HOME} this
 * checkout (the units say to set it to yours), and /usr/bin/node this Node.
 * Any other specifier or variable fails, rather than be run unexpanded.
 */
function execStart(name: string, runtimeDir: string): string[] {
  const unit = unitFile(name);
  const env = Object.fromEntries(unit["Service"]?.["Environment"]?.map((e) => e.split("=", 2) as [string, string]) ?? []);
  expect(env["WFCTL_HOME"], `${name}: Environment=WFCTL_HOME`).toBe("%h/wfctl");
  return one(unit, "Service", "ExecStart")
    .split(/\s+/)
    .map((word, i) => {
      const expanded = word
        .replaceAll("%t", runtimeDir)
        .replaceAll("%h", "/home/nobody")
        .replaceAll("${WFCTL_HOME}", ROOT);
      if (/%[a-zA-Z]|\$\{?[A-Z]/.test(expanded)) throw new Error(`${name}: cannot expand ${word} in ExecStart`);
      if (i === 0) {
        expect(expanded, `${name}: the executable`).toBe("/usr/bin/node");
        return process.execPath;
      }
      return expanded;
    });
}

function socketArg(argv: readonly string[]): string {
  const i = argv.indexOf("--socket");
  if (i < 0) throw new Error(`no --socket in ${argv.join(" ")}`);
  return argv[i + 1]!;
}

/** systemd-analyze verify --user on copies of `names` in a fresh directory; returns its exit code and output. */
async function verify(names: readonly string[], edit: (name: string, text: string) => string = (_, t) => t) {
  if (!existsSync(SYSTEMD_ANALYZE)) throw new Error(`${SYSTEMD_ANALYZE} is missing: install systemd (Debian: systemd) to verify the units`);
  const dir = temp("wft-units-");
  const runtime = join(dir, "runtime");
  mkdirSync(runtime, { mode: 0o700 });
  for (const name of readdirSync(SYSTEMD)) {
    // ExecStart must name an executable that exists: this Node, wherever it is.
    const text = readFileSync(join(SYSTEMD, name), "utf8").replaceAll("/usr/bin/node", process.execPath);
    writeFileSync(join(dir, name), edit(name, text));
  }
  // A user manager is never started: with a runtime directory of its own,
  // `verify --user` loads the units offline (it refuses without one).
  try {
    const { stdout, stderr } = await run(SYSTEMD_ANALYZE, ["verify", "--user", "--man=no", "--generators=no", ...names], {
      cwd: dir,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", XDG_RUNTIME_DIR: runtime, HOME: dir, SYSTEMD_LOG_COLOR: "0" },
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

describe("deploy/systemd", () => {
  const units = ["wfctld.service", "wfctld.socket", "wfctld-activated.service"];

  it("every unit passes systemd-analyze verify --user without a warning", async () => {
    expect(readdirSync(SYSTEMD).sort()).toEqual([...units].sort());
    for (const name of units) {
      const result = await verify([name]);
      expect(result, name).toEqual({ code: 0, output: "" });
    }
  });

  it("verify does catch what is wrong in these units (so its silence above means something)", async () => {
    const unknownKey = await verify(["wfctld.service"], (name, text) => (name === "wfctld.service" ? text.replace("KillMode=mixed", "KillMode=mixed\nKilMode=mixed") : text));
    expect(unknownKey.output).toContain("Unknown key 'KilMode'");
    const noService = await verify(["wfctld.socket"], (name, text) => (name === "wfctld.socket" ? text.replace("Service=wfctld-activated.service", "Service=wfctld-missing.service") : text));
    expect(noService.code).not.toBe(0);
    expect(noService.output).toContain("wfctld-missing.service not loaded");
    const badExec = await verify(["wfctld-activated.service"], (_, text) => text.replace(process.execPath, "/nonexistent/node"));
    expect(badExec.code).not.toBe(0);
    expect(badExec.output).toContain("/nonexistent/node");
  });

  it("the socket unit and both services name the same socket: wfctl's default path", () => {
    const socket = unitFile("wfctld.socket");
    expect(one(socket, "Socket", "ListenStream")).toBe("%t/wfctl/wfctld.sock");
    expect(one(socket, "Socket", "SocketMode")).toBe("0600");
    expect(one(socket, "Socket", "Service")).toBe("wfctld-activated.service");
    expect(one(socket, "Unit", "Conflicts")).toBe("wfctld.service");
    expect(socketArg(execStart("wfctld.service", "/run/user/1000"))).toBe("/run/user/1000/wfctl/wfctld.sock");
    expect(socketArg(execStart("wfctld-activated.service", "/run/user/1000"))).toBe("/run/user/1000/wfctl/wfctld.sock");
    // One daemon per unit: the activated one is never enabled on its own.
    expect(unitFile("wfctld-activated.service")["Install"]).toBeUndefined();
  });

  it("wfctld.service's ExecStart runs a daemon wfctl finds at its default path, which stops on SIGTERM", async () => {
    const runtime = join(temp("wft-unit-"), "rt");
    mkdirSync(runtime, { mode: 0o700 });
    const argv = execStart("wfctld.service", runtime);
    const daemon = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, XDG_RUNTIME_DIR: runtime, WFCTL_SOCKET: "" } });
    children.push(daemon);
    let stderr = "";
    daemon.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    // wfctl with no --socket and no WFCTL_SOCKET, in this user's session.
    const cli = new Cli(join(runtime, "wfctl"));
    const env = { XDG_RUNTIME_DIR: runtime, WFCTL_SOCKET: "" };
    await waitFor(() => existsSync(cli.socket), 15_000, `wfctld to bind ${cli.socket}: ${stderr}`);
    const status = await cli.json<{ pid: number; log_path: string; idle_timeout_seconds: number }>(["daemon", "status"], { env });
    expectExit(status.result, 0);
    expect(status.value).toMatchObject({ pid: daemon.pid, log_path: "", idle_timeout_seconds: 0 });
    // --log-file -: the log is on stderr, for the journal.
    expect(stderr).toContain('"msg":"wfctld started"');
    // systemctl stop: SIGTERM to the main process (KillMode=mixed).
    const exited = new Promise<number | null>((r) => daemon.once("exit", (code) => r(code)));
    daemon.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(existsSync(cli.socket)).toBe(false);
  });

  it("wfctld-activated.service's ExecStart serves the socket wfctld.socket listens on", async () => {
    if (!existsSync(ACTIVATE)) throw new Error(`${ACTIVATE} is missing: install systemd (Debian: systemd) to test socket activation`);
    const runtime = join(temp("wft-unit-"), "rt");
    mkdirSync(join(runtime, "wfctl"), { recursive: true, mode: 0o700 });
    const listen = one(unitFile("wfctld.socket"), "Socket", "ListenStream").replaceAll("%t", runtime);
    const argv = execStart("wfctld-activated.service", runtime);
    const activator = spawn(ACTIVATE, ["-l", listen, ...argv], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, XDG_RUNTIME_DIR: runtime, WFCTL_SOCKET: "" } });
    children.push(activator);
    let stderr = "";
    activator.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    await waitFor(() => stderr.includes(`Listening on ${listen}`), 10_000, "systemd-socket-activate to listen");
    const cli = new Cli(join(runtime, "wfctl"));
    const env = { XDG_RUNTIME_DIR: runtime, WFCTL_SOCKET: "" };
    const status = await cli.json<{ pid: number; idle_timeout_seconds: number }>(["daemon", "status"], { env });
    expectExit(status.result, 0);
    // The activator exec'd the daemon: same pid. The unit exits after an idle hour.
    expect(status.value).toMatchObject({ pid: activator.pid, idle_timeout_seconds: 3600 });
    expect(stderr).toContain('"socket_activated":true');
    const stop = await cli.run(["daemon", "stop"], { env });
    expectExit(stop, 0);
    await waitFor(() => !isAlive(activator.pid!), 15_000, "the activated daemon to exit");
    expect(statSync(listen).isSocket(), "the socket stays, for systemd to listen on").toBe(true);
  });
});

/** The Dockerfile's instructions in order, continuation lines joined. */
function dockerfile(): { op: string; args: string }[] {
  const text = readFileSync(join(ROOT, "deploy", "container", "Dockerfile"), "utf8").replace(/\\\n/g, " ");
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(" ") };
    });
}

describe("deploy/container", () => {
  const workspaces = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { workspaces: string[] }).workspaces;

  it("copies every file its steps need before the step that needs them, and only files that exist", () => {
    const copied: string[] = [];
    const isCopied = (path: string) => copied.some((c) => path === c || path.startsWith(`${c}/`));
    let sawInstall = false;
    let sawBuild = false;
    for (const { op, args } of dockerfile()) {
      if (op === "COPY") {
        const words = args.split(/\s+/).filter((w) => !w.startsWith("--"));
        const sources = words.slice(0, -1);
        expect(sources.length, `COPY ${args}`).toBeGreaterThan(0);
        for (const source of sources) {
          expect(existsSync(join(ROOT, source)), `COPY source ${source}`).toBe(true);
          copied.push(source.replace(/\/$/, ""));
        }
      }
      if (op === "RUN" && args.includes("npm ci")) {
        sawInstall = true;
        // npm ci installs a workspace's dependencies (the cloud SDKs) only if its package.json is there.
        for (const path of ["package.json", "package-lock.json", ...workspaces.map((w) => `${w}/package.json`)]) {
          expect(isCopied(path), `${path} copied before npm ci`).toBe(true);
        }
      }
      if (op === "RUN" && args.includes("npm run build")) {
        sawBuild = true;
        const build = JSON.parse(readFileSync(join(ROOT, "tsconfig.build.json"), "utf8")) as { include: string[] };
        const roots = build.include.map((glob) => glob.split("/")[0]!);
        for (const path of ["tsconfig.json", "tsconfig.build.json", "client/bundle.mjs", ...roots]) {
          expect(isCopied(path), `${path} copied before npm run build`).toBe(true);
        }
      }
    }
    expect(sawInstall && sawBuild).toBe(true);
    // Every built-in plugin is in the image: the local provider's executable,
    // and each cloud plugin's sources, which npm run build bundles into its file.
    for (const plugin of builtinPlugins(ROOT)) {
      const file = plugin.installable !== undefined ? plugin.args[0]! : plugin.executable;
      const relative = file.slice(ROOT.length + 1);
      expect(isCopied(relative), `${plugin.name}: ${relative}`).toBe(true);
      expect(existsSync(file), file).toBe(true);
    }
  });

  it("runs wfctld in the foreground on the socket WFCTL_SOCKET names, as a user that owns its directory", () => {
    const steps = dockerfile();
    const env = steps.find((s) => s.op === "ENV" && s.args.startsWith("WFCTL_SOCKET="))?.args.split("=")[1];
    expect(steps.find((s) => s.op === "ENTRYPOINT")?.args).toBe('["wfctld"]');
    const cmd = JSON.parse(steps.find((s) => s.op === "CMD")!.args) as string[];
    expect(cmd).toEqual(["--socket", env, "--idle-timeout", "0", "--log-file", "-"]);
    expect(steps.find((s) => s.op === "USER")?.args).toBe("node");
    expect(steps.find((s) => s.op === "RUN" && s.args.includes("chown node:node /run/wfctl"))).toBeDefined();
    // The links on PATH point at the package's executables.
    const build = steps.find((s) => s.op === "RUN" && s.args.includes("ln -s"))!.args;
    for (const [, target] of build.matchAll(/ln -s \/opt\/wfctl\/(\S+)/g)) expect(existsSync(join(ROOT, target!)), target).toBe(true);
  });

  it("sends only what it copies as the build context (Dockerfile.dockerignore)", () => {
    const ignore = readFileSync(join(ROOT, "deploy", "container", "Dockerfile.dockerignore"), "utf8").split("\n").map((l) => l.trim());
    expect(ignore).toContain("*");
    expect(ignore).toContain("**/node_modules");
    for (const { op, args } of dockerfile()) {
      if (op !== "COPY") continue;
      for (const source of args.split(/\s+/).slice(0, -1)) expect(ignore, `${source} is let into the context`).toContain(`!${source.split("/")[0]}`);
    }
  });
});

describe("deploy/otel", () => {
  interface Collector {
    receivers: Record<string, { protocols?: { http?: { endpoint?: string } } }>;
    processors?: Record<string, unknown>;
    exporters: Record<string, unknown>;
    service: { pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
  }
  const path = join(ROOT, "deploy", "otel", "collector.yaml");

  it("receives OTLP/HTTP on port 4318, and every pipeline uses only components it defines", () => {
    const config = parse(readFileSync(path, "utf8")) as Collector;
    expect(config.receivers["otlp"]?.protocols?.http?.endpoint).toMatch(/:4318$/);
    // wfctl exports traces and metrics (proto/telemetry.ts), no logs.
    expect(Object.keys(config.service.pipelines).sort()).toEqual(["metrics", "traces"]);
    const used = new Set<string>();
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      for (const [kind, ids] of [["receivers", pipeline.receivers], ["processors", pipeline.processors ?? []], ["exporters", pipeline.exporters]] as const) {
        const defined = (config as unknown as Record<string, Record<string, unknown> | undefined>)[kind] ?? {};
        for (const id of ids) {
          expect(Object.keys(defined), `pipeline ${name}: ${kind} ${id}`).toContain(id);
          used.add(`${kind}/${id}`);
        }
      }
    }
    for (const kind of ["receivers", "processors", "exporters"] as const) {
      for (const id of Object.keys(config[kind] ?? {})) expect(used.has(`${kind}/${id}`), `${kind} ${id} is defined but no pipeline uses it`).toBe(true);
    }
    // The backend exporter is there to uncomment.
    expect(readFileSync(path, "utf8")).toMatch(/^ {2}# otlphttp\/backend:$/m);
  });

  it("the variables its README sets make wfctl, wfctld and the plugin export to the receiver's port", async () => {
    const readme = readFileSync(join(ROOT, "deploy", "otel", "README.md"), "utf8");
    const exports = [...readme.matchAll(/^export (OTEL_[A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const);
    const config = parse(readFileSync(path, "utf8")) as Collector;
    const port = config.receivers["otlp"]!.protocols!.http!.endpoint!.split(":")[1];
    expect(exports).toContainEqual(["OTEL_EXPORTER_OTLP_ENDPOINT", `http://127.0.0.1:${port}`]);
    // A stand-in receiver (no otelcol here) on a free port instead of 4318.
    const collector = new OtlpCollector();
    await collector.start();
    cleanups.push(() => collector.stop());
    const env = Object.fromEntries(exports.map(([key, value]) => [key, value.replace(`http://127.0.0.1:${port}`, collector.endpoint)]));
    const dir = temp("wft-otel-");
    const cli = new Cli(join(dir, "sock"));
    cleanups.push(() => cli.run(["daemon", "stop"]));
    copyQuickstart(dir);
    expectExit(await cli.run(["infra", "plan", "-c", join(dir, "quickstart", "infra.yaml")], { env: { ...env, OTEL_BSP_SCHEDULE_DELAY: "100" } }), 0);
    for (const service of ["wfctl", "wfctld", "wfctl-plugin-local"]) {
      await waitFor(() => collector.spans.some((s) => s.service === service), 15_000, `spans from ${service}`);
    }
  });
});
