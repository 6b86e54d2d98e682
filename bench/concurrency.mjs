// Figure 6, concurrency: 50 `wfctl infra plan` processes started at once
// against one warm daemon (the quickstart, applied, so each is a no-op plan),
// in a few rounds: throughput per round, each client's latency, and every
// client that did not exit 0.
import { CliSandbox, copyQuickstart } from "./cli.mjs";
import { msSince, spread } from "./report.mjs";

const CLIENTS = 50;

/** @returns {Promise<import("./report.mjs").FigureResult>} */
export async function measure({ work, quick, log }) {
  const rounds = quick ? 1 : 3;
  const cli = new CliSandbox(work, "concurrency");
  try {
    const config = copyQuickstart(cli.dir);
    cli.run(["infra", "apply", "-c", config, "--auto-approve"]);
    const plan = ["infra", "plan", "-c", config, "--detailed-exitcode"];
    cli.run(plan); // warm
    const latency = [];
    const throughput = [];
    const errors = [];
    for (let r = 0; r < rounds; r++) {
      const started = process.hrtime.bigint();
      const results = await Promise.all(Array.from({ length: CLIENTS }, () => cli.runAsync(plan)));
      const wallMs = msSince(started);
      throughput.push(CLIENTS / (wallMs / 1000));
      for (const result of results) {
        latency.push(result.ms);
        if (result.code !== 0) errors.push(`exit ${result.code}: ${result.stderr.trim().split("\n")[0]}`);
      }
      log(`concurrency round ${r + 1}: ${CLIENTS} plans in ${(wallMs / 1000).toFixed(1)} s, ${errors.length} errors so far`);
    }
    const sequential = Array.from({ length: quick ? 3 : 10 }, () => cli.run(plan));
    const s = { latency: spread(latency), throughput: spread(throughput), sequential: spread(sequential) };
    const tail = s.latency.p99 / s.latency.median;
    const distinct = [...new Set(errors)];
    return {
      title: "Concurrency",
      about: `${CLIENTS} \`wfctl infra plan\` processes started at once against one warm daemon (quickstart, no-op plan), ${rounds} round(s); latency is each process's wall time.`,
      rows: [
        { what: `throughput, plans/s (one sample per round of ${CLIENTS})`, spread: s.throughput, unit: "/s" },
        { what: `latency of one plan among ${CLIENTS} at once`, spread: s.latency },
        { what: "latency of one plan alone (sequential, same daemon, for scale)", spread: s.sequential },
      ],
      checks: [
        { what: "errors", measured: `${errors.length} of ${latency.length}`, target: "0", pass: errors.length === 0 },
        { what: "latency p99 / p50", measured: `${tail.toFixed(2)}× (p50 ${s.latency.median.toFixed(0)} ms, p99 ${s.latency.p99.toFixed(0)} ms)`, target: "≤ 5×", pass: tail <= 5 },
      ],
      notes: [
        ...distinct.slice(0, 5).map((e) => `error seen: \`${e.replaceAll("`", "'")}\``),
        `One client at a time would do ${(1000 / s.sequential.median).toFixed(1)} plans/s on the same daemon; ${CLIENTS} at once do ${s.throughput.median.toFixed(1)}/s.`,
        `With ${CLIENTS} Node.js processes starting at once on this machine, most of each latency is CPU contention among the clients themselves (compare the sequential row).`,
      ],
    };
  } finally {
    cli.stop();
  }
}
