// What a daemon started by wfctl does with its own failures. Its stdout and
// stderr are its log file (before, a pipe its starter closed: a crash message
// was lost), so a real crash (V8 out of heap) is in wfctld.log; an exception or
// rejection nothing handles is logged with its stack, counted in Status, and
// the daemon goes on serving; a start-up failure is read back from the log.
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Cli, cliSandbox, expectExit } from "../helpers/cli.js";
import { ROOT } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";
import { daemonFiles } from "../../proto/socket.js";

const PRELOAD = join(ROOT, "test", "faults", "wfctld-faults.mjs");

interface Status {
  pid: number;
  uncaught_errors: number;
  last_uncaught_error?: string;
  rss_bytes: number;
  heap_used_bytes: number;
}

describe("the daemon's own failures", () => {
  const sandbox = cliSandbox("wft-dlog-");

  it("logs an exception and a rejection nothing handles, with their stacks, counts them in Status, and keeps serving", async () => {
    const cli = new Cli(join(sandbox.dir, "unhandled"));
    const env = { NODE_OPTIONS: `--import=${PRELOAD}`, WFCTL_TEST_FAULT: "unhandled" };
    expectExit(await cli.run(["daemon", "start"], { env }), 0);
    const { value: before } = await cli.json<Status>(["daemon", "status"]);
    expect(before.uncaught_errors).toBe(0);
    expect(before.rss_bytes).toBeGreaterThan(0);
    expect(before.heap_used_bytes).toBeGreaterThan(0);

    process.kill(before.pid, "SIGUSR2");
    const log = daemonFiles(cli.socket).log;
    await waitFor(() => readFileSync(log, "utf8").includes("a rejection nothing handles") && readFileSync(log, "utf8").includes("an exception nothing handles"), 10_000, "both errors in wfctld.log");
    const lines = readFileSync(log, "utf8").split("\n").filter((l) => l.includes("injected:")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l["level"], l["origin"]]).sort()).toEqual([["fatal", "uncaughtException"], ["fatal", "unhandledRejection"]]);
    for (const line of lines) expect(JSON.stringify(line["err"])).toContain("wfctld-faults.mjs"); // the stack

    const { value: after } = await cli.json<Status>(["daemon", "status"]);
    expect(after.pid).toBe(before.pid);
    expect(after.uncaught_errors).toBe(2);
    expect(after.last_uncaught_error).toMatch(/injected: an? (exception|rejection) nothing handles/);
    const text = await cli.run(["daemon", "status"]);
    expect(text.stdout).toContain("unhandled errors: 2, logged and survived");
    expect(text.stdout).toMatch(/memory: +[\d.]+ MiB resident, [\d.]+ MiB heap in use/);
    // Still serving operations.
    expectExit(await cli.run(["plugins", "list"]), 0);
    await cli.run(["daemon", "stop"]);
  });

  it("keeps a real crash's message (V8 out of heap, written to stderr) in wfctld.log; the next command starts a new daemon", async () => {
    const cli = new Cli(join(sandbox.dir, "oom"));
    const env = { NODE_OPTIONS: `--import=${PRELOAD} --max-old-space-size=96`, WFCTL_TEST_FAULT: "oom" };
    expectExit(await cli.run(["daemon", "start"], { env }), 0);
    const log = daemonFiles(cli.socket).log;
    expect(statSync(log).mode & 0o777).toBe(0o600);
    const { value } = await cli.json<Status>(["daemon", "status"]);
    process.kill(value.pid, "SIGUSR2");
    await waitFor(() => !isAlive(value.pid), 60_000, "the daemon to run out of heap and die");
    expect(readFileSync(log, "utf8")).toMatch(/JavaScript heap out of memory/);
    const { value: next } = await cli.json<Status>(["daemon", "start"]);
    expect(next.pid).not.toBe(value.pid);
    await cli.run(["daemon", "stop"]);
  });

  it("reads a daemon's start-up failure back from its log and quotes it", async () => {
    // A socket path longer than a Unix socket allows: wfctld says so on stderr, that is, in its log.
    const deep = join(sandbox.dir, "d".repeat(60), "e".repeat(60));
    // Private, as wfctl requires of a socket's directory (else it refuses before starting anything).
    mkdirSync(deep, { recursive: true, mode: 0o700 });
    const cli = new Cli(deep);
    const failed = await cli.run(["plugins", "list"]);
    expectExit(failed, 4);
    expect(failed.stderr).toMatch(/wfctld exited \(code 1\) before serving .*:\nwfctld: socket path is \d+ bytes, longer than the 107 a Unix socket allows/);
    expect(readFileSync(daemonFiles(cli.socket).log, "utf8")).toContain("longer than the 107 a Unix socket allows");
  });
});
