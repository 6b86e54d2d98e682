// Figure 4, scale: `wfctl infra plan` and `apply` wall time and the daemon's
// peak memory for 100, 1,000 and 10,000 independent local.file resources on
// filesystem state. Each size gets a fresh daemon (so its peak is its own)
// and each run fresh state and output (deleted between runs, untimed), in
// the same configuration directory so the provider plugin stays warm.
// Per run: plan (empty state: every resource to create), apply, and plan
// again (no changes: every resource read back from state and the provider).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { CliSandbox, WfctlRunError, writeLocalFiles } from "./cli.mjs";
import { ratioCheck, spread } from "./report.mjs";

/** Past this, a run is stopped (by wfctl's own --timeout) and reported as not finished. */
const GIVE_UP_S = 240;

/** @returns {Promise<import("./report.mjs").FigureResult>} */
export async function measure({ work, quick, log }) {
  const sizes = quick ? [[100, 1], [1000, 1]] : [[100, 5], [1000, 3], [10000, 1]];
  const rows = [];
  const checks = [];
  const notes = [];
  const bySize = new Map();
  for (const [count, runs] of sizes) {
    const cli = new CliSandbox(work, `scale-${count}`);
    const config = writeLocalFiles(cli.dir, count);
    const reset = () => {
      rmSync(join(cli.dir, ".wfctl"), { recursive: true, force: true });
      rmSync(join(cli.dir, "out"), { recursive: true, force: true });
    };
    const timeout = ["--timeout", `${GIVE_UP_S}s`];
    const samples = { plan: [], apply: [], replan: [] };
    let unfinished;
    try {
      cli.run(["daemon", "start"]);
      // Warm the provider plugin for this directory (untimed) where it is cheap.
      if (count <= 1000) cli.run(["infra", "plan", "-c", config, ...timeout], { timeoutMs: (GIVE_UP_S + 30) * 1000 });
      for (let i = 0; i < runs && !unfinished; i++) {
        reset();
        for (const [step, args, expect] of [
          ["plan", ["infra", "plan", "-c", config, "--detailed-exitcode"], [2]],
          ["apply", ["infra", "apply", "-c", config, "--auto-approve"], [0]],
          ["replan", ["infra", "plan", "-c", config, "--detailed-exitcode"], [0]],
        ]) {
          try {
            samples[step].push(cli.run([...args, ...timeout], { expect, timeoutMs: (GIVE_UP_S + 30) * 1000 }));
            log(`scale ${count} ${step}: ${(samples[step].at(-1) / 1000).toFixed(1)} s`);
          } catch (err) {
            if (!(err instanceof WfctlRunError)) throw err;
            unfinished = `${step} did not finish within ${GIVE_UP_S} s (or failed): ${err.message.split("\n")[0]}`;
            break;
          }
        }
      }
      const peak = cli.daemonPeakMiB();
      bySize.set(count, { plan: samples.plan.length ? spread(samples.plan) : undefined, apply: samples.apply.length ? spread(samples.apply) : undefined, replan: samples.replan.length ? spread(samples.replan) : undefined });
      const label = count.toLocaleString("en-US");
      if (samples.plan.length) rows.push({ what: `${label} resources: plan, empty state (all to create)`, spread: spread(samples.plan) });
      if (samples.apply.length) rows.push({ what: `${label} resources: apply (creates all)`, spread: spread(samples.apply) });
      if (samples.replan.length) rows.push({ what: `${label} resources: plan, no changes (after apply)`, spread: spread(samples.replan) });
      rows.push({ what: `${label} resources: wfctld peak memory (VmHWM, after all its runs)`, spread: spread([peak]), unit: "MiB" });
      if (unfinished) notes.push(`${label} resources: ${unfinished}`);
      if (runs === 1 && count >= 10000) notes.push(`${label} resources were measured once (the 10-minute budget): one sample, no spread.`);
    } finally {
      cli.stop();
      reset();
    }
  }

  const [k1, k10] = [bySize.get(1000), bySize.get(10000)];
  for (const step of ["plan", "apply", "replan"]) {
    const name = { plan: "plan (empty state)", apply: "apply", replan: "plan (no changes)" }[step];
    if (k1?.[step] && k10?.[step]) checks.push(ratioCheck(`10k / 1k: ${name}`, k10[step], k1[step], "<=", 11));
    else if (k1?.[step] && bySize.has(10000)) checks.push({ what: `10k / 1k: ${name}`, measured: "10k did not finish", target: "≤ 11×", pass: false });
  }
  if (bySize.has(10000)) {
    for (const step of ["plan", "replan"]) {
      const s = k10?.[step];
      const name = step === "plan" ? "10k plan (empty state)" : "10k plan (no changes)";
      checks.push({ what: `${name} under 60 s`, measured: s ? `${(s.median / 1000).toFixed(1)} s` : `did not finish within ${GIVE_UP_S} s`, target: "< 60 s", pass: s ? s.median < 60_000 : false });
    }
  } else {
    notes.push("10,000 resources are not measured with --quick.");
  }
  notes.push("Peak memory is the daemon process alone (VmHWM of the pid in wfctld.pid); the `local` provider plugin is a process of its own and is not counted.");
  return {
    title: "Scale",
    about: "Wall time of the real `wfctl` process (warm daemon), independent local.file resources, filesystem state.",
    rows,
    checks,
    notes,
  };
}
