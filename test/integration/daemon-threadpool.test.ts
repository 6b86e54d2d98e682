// The daemon wfctl starts on demand gets a libuv thread pool of 16 (its state
// writes share the pool with every job on the host; Node's default is 4),
// unless the environment names its own size, which is kept. libuv reads the
// size before the daemon's code runs, so it must be in the daemon's
// environment from the start: checked in /proc on the real process.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DAEMON_THREADPOOL_SIZE } from "../../client/connection.js";
import { Cli, cliSandbox, expectExit } from "../helpers/cli.js";

interface Status {
  pid: number;
}

/** The daemon's UV_THREADPOOL_SIZE and how many threads it runs. */
function poolOf(pid: number): { size: string | undefined; threads: number } {
  const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  const size = environ.find((e) => e.startsWith("UV_THREADPOOL_SIZE="))?.slice("UV_THREADPOOL_SIZE=".length);
  return { size, threads: readdirSync(`/proc/${pid}/task`).length };
}

describe("the thread pool of a daemon wfctl starts", () => {
  const sandbox = cliSandbox("wft-pool-");

  it("is 16 threads unless the environment sets a size, and the size the environment sets otherwise", async () => {
    expect(process.env["UV_THREADPOOL_SIZE"], "the test's own environment sets no size").toBeUndefined();
    const started: Record<string, { size: string | undefined; threads: number }> = {};
    for (const [name, env] of [["default", {}], ["own", { UV_THREADPOOL_SIZE: "5" }]] as const) {
      const cli = new Cli(join(sandbox.dir, name));
      expectExit(await cli.run(["daemon", "start"], { env }), 0);
      const { value } = await cli.json<Status>(["daemon", "status"]);
      started[name] = poolOf(value.pid);
      expectExit(await cli.run(["daemon", "stop"]), 0);
    }
    expect(started["default"]?.size).toBe(DAEMON_THREADPOOL_SIZE);
    expect(started["own"]?.size).toBe("5");
    // The pool's threads all start with it: 11 more for 16 than for 5, whatever else the daemon runs.
    expect((started["default"]?.threads ?? 0) - (started["own"]?.threads ?? 0)).toBe(16 - 5);
  });
});
