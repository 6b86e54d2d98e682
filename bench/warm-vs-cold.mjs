// Figure 2, warm vs cold: wall time of the `wfctl infra plan` process on the
// quickstart (3 resources) and on 200 local.file resources, with a warm
// daemon, with no daemon yet (the command starts one and the plugin: cold),
// and with --no-daemon (engine and plugin in the CLI process). Every plan is
// a no-op plan over applied state, the case a CI check or a user re-running
// plan hits most.
import { join } from "node:path";
import { CliSandbox, copyQuickstart, writeLocalFiles } from "./cli.mjs";
import { ratioCheck, spread } from "./report.mjs";

const repeat = (n, fn) => Array.from({ length: n }, fn);

/** @returns {Promise<import("./report.mjs").FigureResult>} */
export async function measure({ work, quick }) {
  const runs = quick ? { cold: 1, warm: 3, noDaemon: 2, bigWarm: 2, bigNoDaemon: 2 } : { cold: 5, warm: 20, noDaemon: 10, bigWarm: 10, bigNoDaemon: 6 };
  const cli = new CliSandbox(work, "warm-vs-cold");
  try {
    const quickstart = copyQuickstart(cli.dir);
    const big = writeLocalFiles(join(cli.dir, "two-hundred"), 200);
    const plan = (config) => ["infra", "plan", "-c", config, "--detailed-exitcode"];
    // Something to plan against: apply once, so each plan below is a real no-op plan.
    cli.run(["infra", "apply", "-c", quickstart, "--auto-approve"]);
    cli.run(["infra", "apply", "-c", big, "--auto-approve"]);
    cli.stop();

    const cold = repeat(runs.cold, () => {
      const ms = cli.run(plan(quickstart));
      cli.stop();
      return ms;
    });
    cli.run(plan(quickstart)); // start the daemon and warm it
    cli.run(plan(big));
    const warm = repeat(runs.warm, () => cli.run(plan(quickstart)));
    const bigWarm = repeat(runs.bigWarm, () => cli.run(plan(big)));
    cli.stop();
    const noDaemon = repeat(runs.noDaemon, () => cli.run([...plan(quickstart), "--no-daemon"]));
    const bigNoDaemon = repeat(runs.bigNoDaemon, () => cli.run([...plan(big), "--no-daemon"]));

    const s = { cold: spread(cold), warm: spread(warm), noDaemon: spread(noDaemon), bigWarm: spread(bigWarm), bigNoDaemon: spread(bigNoDaemon) };
    return {
      title: "Warm vs cold",
      about: "Wall time of the `wfctl infra plan --detailed-exitcode` process (a no-op plan over applied filesystem state, `local` provider).",
      rows: [
        { what: "quickstart plan, cold (the command starts wfctld and the plugin)", spread: s.cold },
        { what: "quickstart plan, warm daemon", spread: s.warm },
        { what: "quickstart plan, --no-daemon", spread: s.noDaemon },
        { what: "200-resource plan, warm daemon", spread: s.bigWarm },
        { what: "200-resource plan, --no-daemon", spread: s.bigNoDaemon },
      ],
      checks: [
        ratioCheck("quickstart plan: warm / --no-daemon", s.warm, s.noDaemon, "<=", 0.25),
        ratioCheck("quickstart plan: warm / cold", s.warm, s.cold, "<="),
        ratioCheck("200-resource plan: warm / --no-daemon", s.bigWarm, s.bigNoDaemon, "<="),
      ],
      notes: [],
    };
  } finally {
    cli.stop();
  }
}
