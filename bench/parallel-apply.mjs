// Figure 5, parallel apply: 100 independent resources whose provider call
// sleeps 100 ms (slowfs.file with delay_ms, test/fixtures/plugins/slowfs.mjs,
// declared in a wfctl.yaml and pinned with `wfctl plugins lock`), applied
// with --parallelism 10 and --parallelism 1. State is deleted between runs
// (untimed) so every apply creates all 100; the plugin stays warm.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliSandbox, ROOT } from "./cli.mjs";
import { ratioCheck, spread } from "./report.mjs";

const COUNT = 100;
const DELAY_MS = 100;

/** Writes the plugin pin files and `name` (100 slowfs.file resources sleeping `delayMs`); returns its path. */
function writeSlowFiles(dir, name, delayMs) {
  const fixture = join(ROOT, "test", "fixtures", "plugins", "slowfs.mjs");
  writeFileSync(join(dir, "slowfs-plugin.mjs"), `import ${JSON.stringify(fixture)};\n`);
  writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./slowfs-plugin.mjs\n    version: 2.0.0\n");
  const parts = [
    "modules:\n",
    "  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: .wfctl/state }\n",
    "  - name: files\n    type: iac.provider\n    config: { provider: slowfs, root: out }\n",
  ];
  for (let i = 0; i < COUNT; i++) {
    parts.push(`  - name: s${i}\n    type: slowfs.file\n    provider: files\n    config: { path: s${i}.txt, content: "s${i}", delay_ms: ${delayMs} }\n`);
  }
  const config = join(dir, name);
  writeFileSync(config, parts.join(""));
  return config;
}

/** @returns {Promise<import("./report.mjs").FigureResult>} */
export async function measure({ work, quick, log }) {
  const runs = quick ? 1 : 3;
  const cli = new CliSandbox(work, "parallel-apply");
  try {
    const config = writeSlowFiles(cli.dir, "infra.yaml", DELAY_MS);
    // The same resources with no sleep (same directory and provider config, so
    // the same warm plugin): what an apply costs besides the sleeps.
    const noSleep = writeSlowFiles(cli.dir, "no-sleep.yaml", 0);
    cli.run(["plugins", "lock", "-c", config]);
    const apply = (file, parallelism) => {
      rmSync(join(cli.dir, ".wfctl"), { recursive: true, force: true });
      const ms = cli.run(["infra", "apply", "-c", file, "--auto-approve", "--parallelism", String(parallelism)]);
      log(`parallel apply ${file === noSleep ? "(no sleep) " : ""}--parallelism ${parallelism}: ${(ms / 1000).toFixed(1)} s`);
      return ms;
    };
    cli.run(["infra", "plan", "-c", config]); // start the daemon and the plugin
    const samples = { 10: [], 1: [], noSleep: [] };
    for (let i = 0; i < runs; i++) {
      samples[10].push(apply(config, 10));
      samples[1].push(apply(config, 1));
      samples.noSleep.push(apply(noSleep, 10));
    }
    const s = { p10: spread(samples[10]), p1: spread(samples[1]), noSleep: spread(samples.noSleep) };
    const sleptP10 = s.p10.median - s.noSleep.median;
    const sleptP1 = s.p1.median - s.noSleep.median;
    return {
      title: "Parallel apply",
      about: `Wall time of \`wfctl infra apply --auto-approve\` (warm daemon and plugin) creating ${COUNT} independent slowfs.file resources whose create sleeps ${DELAY_MS} ms. The sleeps alone are ${(COUNT * DELAY_MS) / 1000} s in series, ${(COUNT * DELAY_MS) / 10 / 1000} s ten at a time.`,
      rows: [
        { what: "apply --parallelism 10", spread: s.p10 },
        { what: "apply --parallelism 1", spread: s.p1 },
        { what: "apply --parallelism 10, delay_ms 0 (everything but the sleeps)", spread: s.noSleep },
      ],
      checks: [{ ...ratioCheck("speed-up: --parallelism 1 / --parallelism 10", s.p1, s.p10, ">=", 8) }],
      notes: [
        `Less the no-sleep apply (CLI process, plan, provider calls, state writes), the sleeps cost ${sleptP10.toFixed(0)} ms at --parallelism 10 (ideal ${(COUNT * DELAY_MS) / 10} ms) and ${sleptP1.toFixed(0)} ms at --parallelism 1 (ideal ${COUNT * DELAY_MS} ms): ` +
          `a speed-up of ${(sleptP1 / sleptP10).toFixed(1)}× on the sleeping part alone; the fixed ${s.noSleep.median.toFixed(0)} ms is paid at any parallelism and weighs on the ratio above.`,
      ],
    };
  } finally {
    cli.stop();
  }
}
