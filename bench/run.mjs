#!/usr/bin/env node
// `npm run bench`: times the quickstart's `wfctl infra plan` as a user runs it
// (the real CLI process, wall clock) in three ways — cold (no daemon: the
// command starts one and the plugin), warm (daemon and plugin already up) and
// --no-daemon (engine and plugin in the CLI process) — and writes the figures,
// the ratios measured in this same run, and the machine to docs/benchmarks.md.
//
//   npm run bench                # default iterations
//   npm run bench -- --quick     # fewer iterations (a smoke run)
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const runs = quick ? { cold: 2, warm: 5, noDaemon: 3 } : { cold: 8, warm: 30, noDaemon: 15 };

execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json")], {
  cwd: root,
  stdio: "inherit",
});

const work = realpathSync(mkdtempSync(join(os.tmpdir(), "wfctl-bench-")));
const env = { ...process.env, WFCTL_SOCKET: join(work, "sock", "wfctld.sock") };
const config = join(work, "quickstart", "infra.yaml");
cpSync(join(root, "examples", "quickstart", "infra.yaml"), config);
const wfctl = join(root, "client", "bin", "wfctl.js");

function wfctlRun(args, expectCodes = [0]) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [wfctl, ...args], { cwd: root, env, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (!expectCodes.includes(result.status ?? -1)) {
    throw new Error(`wfctl ${args.join(" ")} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return ms;
}

const plan = ["infra", "plan", "-c", config, "--detailed-exitcode"];
const stopDaemon = () => wfctlRun(["daemon", "stop"]);

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, min: sorted[0], median: at(0.5), p90: at(0.9), max: sorted[sorted.length - 1] };
}

try {
  // Something to plan against: apply once, so every plan below is a real no-op plan over 3 resources.
  wfctlRun(["infra", "apply", "-c", config, "--auto-approve"]);
  stopDaemon();

  const cold = [];
  for (let i = 0; i < runs.cold; i++) {
    cold.push(wfctlRun(plan));
    stopDaemon();
  }
  wfctlRun(plan); // start and warm up
  const warm = [];
  for (let i = 0; i < runs.warm; i++) warm.push(wfctlRun(plan));
  const status = [];
  for (let i = 0; i < runs.warm; i++) status.push(wfctlRun(["daemon", "status"]));
  stopDaemon();
  const noDaemon = [];
  for (let i = 0; i < runs.noDaemon; i++) noDaemon.push(wfctlRun([...plan, "--no-daemon"]));
  const version = [];
  for (let i = 0; i < runs.warm; i++) version.push(wfctlRun(["--version"]));

  // Spawn to ready of one plugin, as the supervisor does it: spawn, handshake
  // line, connect, health check, GetInfo.
  const { PluginInstance } = await import(join(root, "dist", "daemon", "supervisor", "instance.js"));
  const { builtinPlugins } = await import(join(root, "dist", "daemon", "supervisor", "catalog.js"));
  const { pino } = await import("pino");
  const local = builtinPlugins().find((p) => p.name === "local");
  const spawnToReady = [];
  for (let i = 0; i < runs.warm; i++) {
    const instance = new PluginInstance(local, "bench", pino({ level: "silent" }));
    const started = process.hrtime.bigint();
    await instance.start();
    spawnToReady.push(Number(process.hrtime.bigint() - started) / 1e6);
    await instance.stop();
  }

  const rows = [
    ["quickstart plan, cold (starts wfctld and the plugin)", stats(cold)],
    ["quickstart plan, warm daemon", stats(warm)],
    ["quickstart plan, --no-daemon", stats(noDaemon)],
    ["`wfctl daemon status` (one socket round trip)", stats(status)],
    ["`wfctl --version` (CLI start-up floor, no socket)", stats(version)],
    ["`local` plugin spawn to ready (handshake, health, GetInfo)", stats(spawnToReady)],
  ];
  const fmt = (ms) => `${ms.toFixed(0)} ms`;
  const ratio = (a, b) => (a.median / b.median).toFixed(2);
  const [c, w, n] = [stats(cold), stats(warm), stats(noDaemon)];
  const cpus = os.cpus();
  const lines = [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (bench/run.mjs); do not edit by hand. Wall-clock time of the",
    "real `wfctl` process, as a user or CI runner sees it, on the quickstart (3 resources,",
    "filesystem state, the `local` provider plugin). These machines are noisy: compare the",
    "ratios, which come from one run on one machine, rather than absolute figures across runs.",
    "",
    `Run: ${new Date().toISOString()}${quick ? " (--quick)" : ""}`,
    "",
    "| what | runs | median | p90 | min | max |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map(([what, s]) => `| ${what} | ${s.n} | ${fmt(s.median)} | ${fmt(s.p90)} | ${fmt(s.min)} | ${fmt(s.max)} |`),
    "",
    "Ratios of medians, this run:",
    "",
    `- --no-daemon / warm daemon: **${ratio(n, w)}×**`,
    `- cold / warm daemon: **${ratio(c, w)}×**`,
    "",
    "Machine:",
    "",
    `- CPU: ${cpus[0]?.model ?? "unknown"} × ${cpus.length}`,
    `- Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `- Node.js: ${process.version}`,
    "",
  ];
  writeFileSync(join(root, "docs", "benchmarks.md"), lines.join("\n"));
  process.stdout.write(`${lines.join("\n")}\nwrote docs/benchmarks.md\n`);
} finally {
  try {
    stopDaemon();
  } catch {
    // already stopped
  }
  rmSync(work, { recursive: true, force: true });
}
