// The bench's shared arithmetic and output: the spread of repeated samples,
// ratios measured within one run checked against their targets, the machine,
// and the markdown that becomes docs/benchmarks.md. Every figure module
// returns a `FigureResult` (below) and knows nothing about markdown.
import os from "node:os";
import { readFileSync } from "node:fs";

/**
 * @typedef {{ n: number, min: number, median: number, p90: number, p99: number, max: number }} Spread
 * @typedef {{ what: string, spread: Spread, unit?: "ms" | "s" | "MiB" | "/s" }} Row
 *   One measured quantity over its repeated samples (unit defaults to ms).
 * @typedef {{ what: string, measured: string, target: string, pass: boolean | null }} Check
 *   A comparison or a yes/no figure; `pass` is null when there is no target.
 * @typedef {{ title: string, about: string, rows: Row[], checks: Check[], notes: string[], number?: number, seconds?: number, error?: string }} FigureResult
 *   `number` and `seconds` are filled in by run.mjs.
 */

/** Median, p90, p99 and extremes of `samples` (nearest-rank). */
export function spread(samples) {
  if (samples.length === 0) throw new Error("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return { n: sorted.length, min: sorted[0], median: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1] };
}

/** Milliseconds since `started` (a process.hrtime.bigint()). */
export function msSince(started) {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Times `fn` (sync or async) once, in milliseconds. */
export async function timeMs(fn) {
  const started = process.hrtime.bigint();
  await fn();
  return msSince(started);
}

/**
 * A ratio of two medians checked against a target: `op` "<=" means the
 * ratio must be at most `limit`, ">=" at least. `limit` undefined: no target.
 */
export function ratioCheck(what, numerator, denominator, op, limit) {
  const value = numerator.median / denominator.median;
  const pass = limit === undefined ? null : op === "<=" ? value <= limit : value >= limit;
  return { what, measured: `${value.toFixed(2)}×`, target: limit === undefined ? "—" : `${op === "<=" ? "≤" : "≥"} ${limit}×`, pass };
}

function formatValue(value, unit = "ms") {
  if (unit === "ms") return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(value < 10 ? 2 : 0)} ms`;
  if (unit === "MiB") return `${value.toFixed(0)} MiB`;
  if (unit === "/s") return `${value.toFixed(1)}/s`;
  return `${value}`;
}

/** CPU model, cores, memory, OS and Node.js of this machine. */
export function machine() {
  const cpus = os.cpus();
  let model = cpus[0]?.model?.trim() ?? "unknown";
  // os.cpus() can report a shortened name in VMs; /proc/cpuinfo has the full one.
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"));
    if (line) model = line.split(":")[1].trim();
  } catch {
    // not Linux
  }
  let distro = "";
  try {
    distro = ` — ${/^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? ""}`;
  } catch {
    // no os-release
  }
  return [
    `- CPU: ${model}, ${cpus.length} logical cores`,
    `- Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()} (${os.arch()})${distro}`,
    `- Node.js: ${process.version}`,
  ];
}

const verdict = (pass) => (pass === null ? "—" : pass ? "PASS" : "**MISS**");

/** The whole of docs/benchmarks.md from the figures of one run. */
export function renderReport(figures, { quick, seconds, startedAt, loadAtStart }) {
  const lines = [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (bench/run.mjs, one module per figure under bench/); do not edit by",
    "hand. Times are wall clock; where a figure is about what a user sees, it is the real `wfctl`",
    "process (client/bin/wfctl.js) against its own daemon and socket. These machines are noisy and",
    "shared: compare the ratios, each measured within this one run, rather than absolute figures",
    "across runs. Spread: median, p90 and extremes over the runs (nearest-rank).",
    "",
    `Run: ${startedAt}${quick ? " (--quick: fewer runs, a smoke run)" : ""}; the whole bench took ${seconds.toFixed(0)} s.`,
    "",
    "Machine:",
    "",
    ...machine(),
    `- Load average (1 min) when the run started: ${loadAtStart.toFixed(1)}, on ${os.cpus().length} cores: other work on the machine, before any of this bench's own`,
    "",
    "## Targets",
    "",
    "| figure | comparison | measured | target | verdict |",
    "|---|---|---:|---:|---|",
  ];
  const numbered = (f, i) => `${f.number ?? i + 1}. ${f.title}`;
  for (const [i, f] of figures.entries()) {
    if (f.error) lines.push(`| ${numbered(f, i)} | did not complete: ${f.error.split("\n")[0].replaceAll("|", "\\|")} | — | — | **MISS** |`);
    for (const c of f.checks) lines.push(`| ${numbered(f, i)} | ${c.what} | ${c.measured} | ${c.target} | ${verdict(c.pass)} |`);
  }
  for (const [i, f] of figures.entries()) {
    lines.push("", `## ${numbered(f, i)}`, "", f.about, "");
    if (f.rows.length > 0) {
      lines.push("| what | runs | median | p90 | min | max |", "|---|---:|---:|---:|---:|---:|");
      for (const { what, spread: s, unit } of f.rows) {
        const v = (x) => formatValue(x, unit);
        lines.push(`| ${what} | ${s.n} | ${v(s.median)} | ${v(s.p90)} | ${v(s.min)} | ${v(s.max)} |`);
      }
      lines.push("");
    }
    if (f.error) lines.push(`Did not complete: \`${f.error.split("\n")[0]}\``, "");
    for (const note of f.notes) lines.push(`- ${note}`);
    if (f.seconds !== undefined) lines.push(`- This figure took ${f.seconds.toFixed(0)} s of the run.`);
  }
  lines.push("");
  return lines.join("\n");
}
