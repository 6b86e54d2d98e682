#!/usr/bin/env node
// `npm run bench`: builds the code (tsc, into dist/), measures the seven
// figures of the performance issue, one module each, and writes them with
// their spread, the ratios measured in this same run against their targets,
// and the machine to docs/benchmarks.md.
//
//   npm run bench                # the full suite (under 10 minutes)
//   npm run bench -- --quick     # fewer runs and no 10k scale case: a smoke run
//   npm run bench -- --only 2,5  # some figures only (the report has just those)
import { execFileSync } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { ROOT, stopAllDaemons } from "./cli.mjs";
import { renderReport } from "./report.mjs";

const quick = process.argv.includes("--quick");
const onlyArg = process.argv[process.argv.indexOf("--only") + 1];
const only = process.argv.includes("--only") ? new Set(onlyArg.split(",").map(Number)) : undefined;

/** The figures in report order; each module's measure() returns a FigureResult. */
const FIGURES = [
  ["State across the boundary", "./state-boundary.mjs"],
  ["Warm vs cold", "./warm-vs-cold.mjs"],
  ["Client overhead", "./client-overhead.mjs"],
  ["Scale", "./scale.mjs"],
  ["Parallel apply", "./parallel-apply.mjs"],
  ["Concurrency", "./concurrency.mjs"],
  ["Side by side with Terraform", "./terraform.mjs"],
];

const log = (line) => process.stderr.write(`bench: ${line}\n`);
const startedAt = new Date();
const loadAtStart = os.loadavg()[0];
const started = process.hrtime.bigint();

execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json")], { cwd: ROOT, stdio: "inherit" });
execFileSync(process.execPath, [join(ROOT, "client", "bundle.mjs")], { cwd: ROOT, stdio: "inherit" });

const work = realpathSync(mkdtempSync(join(os.tmpdir(), "wfctl-bench-")));
const cleanUp = () => {
  stopAllDaemons();
  rmSync(work, { recursive: true, force: true });
};
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    log(`${signal}: stopping the daemons this bench started`);
    cleanUp();
    process.exit(130);
  });
}

const figures = [];
try {
  for (const [i, [title, module]] of FIGURES.entries()) {
    if (only && !only.has(i + 1)) continue;
    log(`${i + 1}. ${title}…`);
    const figureStarted = process.hrtime.bigint();
    let result;
    try {
      const { measure } = await import(module);
      result = await measure({ work, quick, log });
    } catch (err) {
      // One figure failing must not cost the others: report it and go on.
      log(`${i + 1}. ${title} failed: ${err.stack ?? err}`);
      result = { title, about: "", rows: [], checks: [], notes: [], error: String(err.message ?? err) };
    }
    result.number = i + 1;
    result.seconds = Number(process.hrtime.bigint() - figureStarted) / 1e9;
    log(`${i + 1}. ${title}: ${result.seconds.toFixed(0)} s`);
    figures.push(result);
  }
} finally {
  cleanUp();
}

const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const report = renderReport(figures, { quick, seconds, startedAt: startedAt.toISOString(), loadAtStart });
writeFileSync(join(ROOT, "docs", "benchmarks.md"), report);
process.stdout.write(`${report}\nwrote docs/benchmarks.md in ${seconds.toFixed(0)} s\n`);
