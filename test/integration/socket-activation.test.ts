// Socket activation, for real: systemd-socket-activate binds the socket and
// starts the real wfctld on the first connection, passing it the listening
// socket as fd 3 (LISTEN_PID, LISTEN_FDS), as systemd does for
// deploy/systemd/wfctld.socket. systemd-socket-activate (without --accept)
// execs the daemon once and is gone; to see what systemd does next (start it
// again for the next connection after it exits), a bash loop hands the same
// socket to a fresh systemd-socket-activate each time the daemon exits cleanly.
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Cli, expectExit } from "../helpers/cli.js";
import { QUICKSTART, WFCTLD, tempDir } from "../helpers/paths.js";
import { commandLine, isAlive, processesMatching, waitFor } from "../helpers/processes.js";

const ACTIVATE = "/usr/bin/systemd-socket-activate";

interface Activator {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

const activators: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
const clis: Cli[] = [];
afterEach(async () => {
  // A daemon wfctl started by itself, if a test failed before stopping it.
  for (const cli of clis.splice(0)) await cli.run(["daemon", "stop"]);
  for (const child of activators.splice(0)) {
    // The activator's process group: the loop, and a daemon it started.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(-child.pid!, "SIGTERM");
      await exited;
    }
  }
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function sandbox() {
  const temp = tempDir("wft-sa-");
  cleanups.push(temp.cleanup);
  const runDir = join(temp.path, "run");
  mkdirSync(runDir, { mode: 0o700 });
  cpSync(QUICKSTART, join(temp.path, "quickstart"), { recursive: true, filter: (src) => !/[/\\](\.wfctl|out|out-staging)$/.test(src) });
  const cli = new Cli(runDir);
  clis.push(cli);
  return { dir: temp.path, socket: join(runDir, "wfctld.sock"), log: join(temp.path, "wfctld.log"), config: join(temp.path, "quickstart", "infra.yaml"), cli };
}

/** Binds `socket` and starts wfctld with `args` on its first connection; with `again`, on each connection after a clean exit too. */
async function activate(socket: string, args: string[], again: boolean): Promise<Activator> {
  if (!existsSync(ACTIVATE)) throw new Error(`${ACTIVATE} is missing: install systemd (Debian: systemd) to test socket activation`);
  const daemon = [process.execPath, WFCTLD, ...args];
  const command = again
    ? ["bash", "-c", 'while ( export LISTEN_PID=$BASHPID; exec "$0" "$@" ); do :; done', ACTIVATE, ...daemon]
    : daemon;
  const child = spawn(ACTIVATE, ["-l", socket, ...command], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  activators.push(child);
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`systemd-socket-activate exited (${child.exitCode}): ${output}`);
    return output.includes(`Listening on ${socket}`);
  }, 10_000, "systemd-socket-activate to listen");
  return { child, output: () => output, exit };
}

interface LogLine {
  pid: number;
  msg: string;
  socket_activated?: boolean;
  reason?: string;
}

function logLines(path: string): LogLine[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as LogLine);
}

const started = (path: string) => logLines(path).filter((l) => l.msg === "wfctld started");

describe("wfctld under socket activation", () => {
  it("serves the socket systemd passes, exits when idle leaving the socket to systemd, and starts again on the next connection", async () => {
    const { socket, log, config, cli, dir } = sandbox();
    await activate(socket, ["--socket", socket, "--idle-timeout", "2s", "--log-file", log], true);
    // Bound by the activator, before any daemon runs.
    expect(statSync(socket).isSocket()).toBe(true);
    expect(existsSync(join(dir, "run", "wfctld.pid")), "a pid file before the first connection").toBe(false);

    // The first command's connection starts the daemon; it plans through it.
    const plan = await cli.run(["infra", "plan", "-c", config]);
    expectExit(plan, 0);
    expect(plan.stdout).toContain("Plan: 3 to create");
    const [first] = started(log);
    expect(first, readFileSync(log, "utf8")).toMatchObject({ socket_activated: true });
    // Served on the socket systemd made, made private to its owner.
    expect(statSync(socket).mode & 0o777).toBe(0o600);

    // Idle: it stops, and leaves the socket file where systemd listens.
    await waitFor(() => !isAlive(first!.pid), 20_000, "the activated wfctld to exit when idle");
    expect(logLines(log).find((l) => l.msg === "wfctld stopping" && l.pid === first!.pid)?.reason).toBe("idle for 2 s");
    expect(statSync(socket).isSocket(), "the socket after the daemon exits").toBe(true);
    expect(existsSync(join(dir, "run", "wfctld.pid")), "the pid file after the daemon exits").toBe(false);

    // The next connection starts a new daemon on the same socket: no
    // daemon is started by wfctl itself, and only one runs.
    const status = await cli.json<{ running: boolean; pid: number; socket_path: string }>(["daemon", "status"]);
    expectExit(status.result, 0);
    expect(status.value).toMatchObject({ running: true, socket_path: socket });
    expect(status.value.pid).not.toBe(first!.pid);
    expect(started(log).map((l) => l.socket_activated)).toEqual([true, true]);
    expect(commandLine(status.value.pid)).toContain(WFCTLD);

    // `wfctl daemon stop` works as ever; the socket stays for the next start.
    const stop = await cli.run(["daemon", "stop"]);
    expectExit(stop, 0);
    const stopped = Number(stop.stdout.match(/wfctld stopped \(pid (\d+)\)/)?.[1]);
    expect(isAlive(stopped)).toBe(false);
    expect(statSync(socket).isSocket()).toBe(true);
    expect(processesMatching(WFCTLD).filter((pid) => commandLine(pid).includes(socket) && !commandLine(pid).includes(ACTIVATE))).toEqual([]);
  });

  it("once nothing listens on the socket an activated daemon left, wfctl starts its own daemon, which replaces the stale file", async () => {
    const { socket, log, config, cli } = sandbox();
    const activator = await activate(socket, ["--socket", socket, "--idle-timeout", "0", "--log-file", log], false);
    expectExit(await cli.run(["daemon", "status"]), 0);
    // systemd-socket-activate exec'd the daemon: the activator's pid is the daemon's.
    const [first] = started(log);
    expect(first?.pid).toBe(activator.child.pid);
    expectExit(await cli.run(["daemon", "stop"]), 0);
    expect(await activator.exit).toBe(0);
    expect(statSync(socket).isSocket(), "the socket file, with nothing listening").toBe(true);

    // Nothing listens now: wfctl starts its own daemon, which replaces the stale socket.
    const plan = await cli.run(["infra", "plan", "-c", config]);
    expectExit(plan, 0);
    const status = await cli.json<{ pid: number }>(["daemon", "status"]);
    expect(status.value.pid).not.toBe(first?.pid);
    expect(started(log)).toHaveLength(1);
    expectExit(await cli.run(["daemon", "stop"]), 0);
    expect(existsSync(socket), "the socket of a daemon that bound it itself").toBe(false);
  });

  it("refuses a passed socket bound to another path than the one it was told to serve", async () => {
    const { socket, dir, cli } = sandbox();
    const other = join(dir, "run", "other.sock");
    const activator = await activate(socket, ["--socket", other, "--log-file", "-"], false);
    // A connection starts the daemon, which refuses the socket and exits.
    await cli.run(["daemon", "status"]);
    expect(await activator.exit).toBe(1);
    expect(activator.output()).toContain(`wfctld: systemd passed wfctld a socket bound to ${socket}, but wfctld serves ${other}`);
    expect(existsSync(join(dir, "run", "other.pid")), "pid file of the refused daemon").toBe(false);
  });
});
