// The real CLI as a user runs it, for the figures about what a user sees:
// a sandbox directory with its own WFCTL_SOCKET (so its daemon is its own),
// `wfctl` runs timed by wall clock, the daemon's pid and peak memory, and
// generated configurations of many independent local.file resources.
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { msSince } from "./report.mjs";

/** The repository root (bench/..). */
export const ROOT = join(import.meta.dirname, "..");
const WFCTL = join(ROOT, "client", "bin", "wfctl.js");

/** A failed `wfctl` run: its exit code and output, for the report. */
export class WfctlRunError extends Error {}

/** Every sandbox made in this process, so an interrupted bench can still stop their daemons. */
const sandboxes = new Set();

/** Stops the daemon of every sandbox that may have one running. */
export function stopAllDaemons() {
  for (const sandbox of sandboxes) sandbox.stop();
}

/** A directory under `work` whose `wfctl` runs talk to a daemon of its own. */
export class CliSandbox {
  constructor(work, name) {
    this.dir = join(work, name);
    mkdirSync(this.dir, { recursive: true });
    this.socket = join(this.dir, "sock", "wfctld.sock");
    this.env = { ...process.env, WFCTL_SOCKET: this.socket };
    this.started = false;
    sandboxes.add(this);
  }

  /**
   * Runs `wfctl args` to the end and returns its wall time in ms; throws
   * unless it exits with one of `expect`. `timeoutMs` kills it (a backstop
   * behind wfctl's own --timeout). `command` is how wfctl is run: by default
   * `node client/bin/wfctl.js`; documentedWfctl() gives the README's way.
   */
  run(args, { expect = [0], timeoutMs = 300_000, command = [process.execPath, WFCTL] } = {}) {
    // Every command but these may start a daemon that stop() must then end.
    const startsNone = args.includes("--no-daemon") || args[0] === "--version" || (args[0] === "daemon" && args[1] === "stop");
    if (!startsNone) this.started = true;
    const started = process.hrtime.bigint();
    const [program, ...prefix] = command;
    const result = spawnSync(program, [...prefix, ...args], { cwd: this.dir, env: this.env, encoding: "utf8", timeout: timeoutMs, maxBuffer: 256 * 2 ** 20 });
    const ms = msSince(started);
    if (!expect.includes(result.status ?? -1)) {
      const why = result.error ? String(result.error) : `exited ${result.status ?? result.signal}`;
      throw new WfctlRunError(`wfctl ${args.join(" ")} ${why} after ${(ms / 1000).toFixed(1)} s: ${(result.stderr || result.stdout).trim().slice(0, 500)}`);
    }
    return ms;
  }

  /** Like run, without blocking: resolves to { ms, code, stderr }. */
  runAsync(args) {
    this.started = true;
    return new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const child = spawn(process.execPath, [WFCTL, ...args], { cwd: this.dir, env: this.env, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", (err) => resolve({ ms: msSince(started), code: -1, stderr: String(err) }));
      child.on("close", (code) => resolve({ ms: msSince(started), code: code ?? -1, stderr }));
    });
  }

  /** The daemon's pid, from the pid file beside its socket. */
  daemonPid() {
    return Number.parseInt(readFileSync(join(this.dir, "sock", "wfctld.pid"), "utf8").trim(), 10);
  }

  /** The daemon's peak resident memory so far (VmHWM), in MiB. */
  daemonPeakMiB() {
    const status = readFileSync(`/proc/${this.daemonPid()}/status`, "utf8");
    const kib = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    if (!Number.isFinite(kib)) throw new Error("no VmHWM in /proc/<pid>/status");
    return kib / 1024;
  }

  /** Stops this sandbox's daemon (and its plugins) if one may be running; never throws. */
  stop() {
    if (!this.started) return;
    this.started = false;
    try {
      this.run(["daemon", "stop"], { timeoutMs: 60_000 });
    } catch (err) {
      process.stderr.write(`bench: could not stop the daemon of ${this.dir}: ${err.message}\n`);
    }
  }
}

/** Copies the quickstart into `dir` and returns its infra.yaml path. */
export function copyQuickstart(dir) {
  const config = join(dir, "quickstart", "infra.yaml");
  mkdirSync(join(dir, "quickstart"), { recursive: true });
  cpSync(join(ROOT, "examples", "quickstart", "infra.yaml"), config);
  return config;
}

/**
 * Writes `dir`/infra.yaml: filesystem state and `count` independent
 * local.file resources (no depends_on); returns its path.
 */
export function writeLocalFiles(dir, count) {
  mkdirSync(dir, { recursive: true });
  const parts = [
    "modules:\n",
    "  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: .wfctl/state }\n",
    "  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n",
  ];
  for (let i = 0; i < count; i++) {
    parts.push(`  - name: f${i}\n    type: local.file\n    provider: local\n    config: { path: f${i}.txt, content: "file ${i}\\n" }\n`);
  }
  const config = join(dir, "infra.yaml");
  writeFileSync(config, parts.join(""));
  return config;
}

/**
 * `wfctl` as the README runs it: the command on PATH that `npm link` makes
 * (a link in npm's global bin to client/bin/wfctl.js, started through its
 * `#!/usr/bin/env node` line). Made here in a private prefix under `work`
 * (`npm install -g --prefix` of this folder is what `npm link` does), so the
 * machine's global npm is not touched. Returns the command to run.
 */
export function documentedWfctl(work) {
  const prefix = join(work, "npm-global");
  const result = spawnSync("npm", ["install", "-g", "--prefix", prefix, "--ignore-scripts", "--no-audit", "--no-fund", ROOT], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`npm install -g --prefix ${prefix} ${ROOT} failed: ${result.stderr}`);
  return [join(prefix, "bin", "wfctl")];
}
