// Figure 3, client overhead: what the short-lived CLI costs above Node.js
// itself: a warm `wfctl daemon status` (start-up, one socket round trip,
// output) against `node -e 0`, with `wfctl --version` (start-up, no socket)
// between them to show where the time goes.
import { spawnSync } from "node:child_process";
import { CliSandbox } from "./cli.mjs";
import { msSince, ratioCheck, spread } from "./report.mjs";

const repeat = (n, fn) => Array.from({ length: n }, fn);

function nodeNothing() {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ["-e", "0"]);
  if (result.status !== 0) throw new Error(`node -e 0 exited ${result.status}`);
  return msSince(started);
}

/** @returns {Promise<import("./report.mjs").FigureResult>} */
export async function measure({ work, quick }) {
  const runs = quick ? 5 : 30;
  const cli = new CliSandbox(work, "client-overhead");
  try {
    cli.run(["daemon", "start"]);
    cli.run(["daemon", "status"]);
    // Interleaved, so drift in machine load touches all three alike.
    const status = [], version = [], node = [];
    for (let i = 0; i < runs; i++) {
      node.push(nodeNothing());
      version.push(cli.run(["--version"]));
      status.push(cli.run(["daemon", "status"]));
    }
    const s = { status: spread(status), version: spread(version), node: spread(node) };
    return {
      title: "Client overhead",
      about: "Wall time of short processes, interleaved: `node -e 0` (the floor), `wfctl --version` (CLI start-up, no socket), warm `wfctl daemon status` (start-up, one socket round trip).",
      rows: [
        { what: "`node -e 0`", spread: s.node },
        { what: "`wfctl --version`", spread: s.version },
        { what: "`wfctl daemon status`, warm daemon", spread: s.status },
      ],
      checks: [
        ratioCheck("warm `daemon status` / `node -e 0`", s.status, s.node, "<=", 1.5),
        ratioCheck("`--version` / `node -e 0` (start-up share)", s.version, s.node, "<="),
      ],
      notes: [
        `Of the ${(s.status.median - s.node.median).toFixed(0)} ms that \`daemon status\` adds to \`node -e 0\`, ${(s.version.median - s.node.median).toFixed(0)} ms are there already in \`--version\`, which opens no socket: the cost is the CLI's start-up (loading its modules), not the round trip.`,
      ],
    };
  } finally {
    cli.stop();
  }
}
