// Figure 3, client overhead: what the short-lived CLI costs above Node.js
// itself: a warm `wfctl daemon status` (start-up, one socket round trip,
// output) against `node -e 0`, with `wfctl --version` (start-up, no socket)
// between them to show where the time goes, and bench/floor-client.mjs (the
// same Status call from a bare Node script) for the floor under any Node
// client; and a warm plan of the
// quickstart run as the README says (`wfctl` on PATH, from `npm link`)
// against `node client/bin/wfctl.js`.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { CliSandbox, copyQuickstart, documentedWfctl } from "./cli.mjs";
import { msSince, ratioCheck, spread } from "./report.mjs";

const repeat = (n, fn) => Array.from({ length: n }, fn);
/** A bare Node script making `daemon status`'s one call (node:http, Connect's JSON form), run as a `wfctl` replacement. */
const FLOOR_CLIENT = [process.execPath, join(import.meta.dirname, "floor-client.mjs")];

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
    cli.run([], { command: FLOOR_CLIENT });
    // Interleaved, so drift in machine load touches all four alike.
    const status = [], version = [], node = [], floor = [];
    for (let i = 0; i < runs; i++) {
      node.push(nodeNothing());
      version.push(cli.run(["--version"]));
      floor.push(cli.run([], { command: FLOOR_CLIENT }));
      status.push(cli.run(["daemon", "status"]));
    }
    // The README's invocation against the direct one, on a warm plan of the quickstart.
    const wfctl = documentedWfctl(work);
    const quickstart = copyQuickstart(cli.dir);
    cli.run(["infra", "apply", "-c", quickstart, "--auto-approve"]);
    const plan = ["infra", "plan", "-c", quickstart, "--detailed-exitcode"];
    cli.run(plan, { command: wfctl });
    const documented = [], direct = [];
    for (let i = 0; i < runs; i++) {
      documented.push(cli.run(plan, { command: wfctl }));
      direct.push(cli.run(plan));
    }
    const s = { status: spread(status), version: spread(version), node: spread(node), floor: spread(floor), documented: spread(documented), direct: spread(direct) };
    return {
      title: "Client overhead",
      about:
        "Wall time of short processes, interleaved: `node -e 0` (the floor), `wfctl --version` (CLI start-up, no socket), warm `wfctl daemon status` (start-up, one socket round trip), " +
        "and `bench/floor-client.mjs`, a bare Node script making the same Status call (`node:http`, Connect's JSON form; no CLI, protobuf or Connect library) and printing two fields, the least any Node client of the daemon costs; " +
        "then a warm no-op plan of the quickstart run as the README says (`wfctl` on PATH, linked by `npm link`: here `npm install -g --prefix` of the checkout into a private prefix) and as `node client/bin/wfctl.js`, interleaved.",
      rows: [
        { what: "`node -e 0`", spread: s.node },
        { what: "`wfctl --version`", spread: s.version },
        { what: "`bench/floor-client.mjs`: the same Status call from a bare Node script, warm daemon", spread: s.floor },
        { what: "`wfctl daemon status`, warm daemon", spread: s.status },
        { what: "warm `wfctl infra plan` of the quickstart, `wfctl` on PATH (README: `npm link`)", spread: s.documented },
        { what: "warm `wfctl infra plan` of the quickstart, `node client/bin/wfctl.js`", spread: s.direct },
      ],
      checks: [
        ratioCheck("warm `daemon status` / `node -e 0`", s.status, s.node, "<=", 1.3),
        ratioCheck("`--version` / `node -e 0` (start-up share)", s.version, s.node, "<="),
        ratioCheck("floor: bare Node Status call / `node -e 0` (the least any Node client pays; compare the 1.3× target above)", s.floor, s.node, "<="),
        ratioCheck("warm plan: documented `wfctl` / `node client/bin/wfctl.js`", s.documented, s.direct, "<=", 1.1),
      ],
      notes: [
        `Of the ${(s.status.median - s.node.median).toFixed(0)} ms that \`daemon status\` adds to \`node -e 0\`, ${(s.version.median - s.node.median).toFixed(0)} ms are there already in \`--version\`, which opens no socket: the cost is the CLI's start-up (loading its modules), not the round trip.`,
        `A bare Node script making the same call costs ${(s.floor.median - s.node.median).toFixed(0)} ms over \`node -e 0\` (${(s.floor.median / s.node.median).toFixed(2)}×): loading \`node:http\`, the socket round trip and the daemon's answer. \`daemon status\` costs ${(s.status.median - s.floor.median).toFixed(0)} ms more than that script; that part is wfctl's own.`,
      ],
    };
  } finally {
    cli.stop();
  }
}
