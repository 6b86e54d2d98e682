// The plan before the first change (issue 19, acceptance 2): `apply
// --auto-approve` prints the plan as soon as it is made, before any change
// starts, so that a CI log reads plan first and progress after; off a
// terminal (stdout and stderr into one pipe, as a CI log merges them), on one
// (a real pseudo-terminal, the live progress display), and with --json (a
// one-line plan event before the first resource_start). Asked for approval,
// the plan is shown once, not again as it is applied.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { cliSandbox, expectExit, runProgram } from "../helpers/cli.js";
import { siteStack } from "../helpers/stacks.js";
import { WFCTL } from "../helpers/paths.js";
import { runOnTerminal } from "../helpers/terminal.js";

const CONFIG = siteStack();

const PLAN_LINES = ["wfctl will perform these actions:", "+   site", "+   index", "+   robots", "Plan: 3 to create, 0 to update, 0 to replace, 0 to delete."];

/** A terminal as a person has one: not CI, a terminal type, a size (the live display draws within it). */
const TERMINAL = (env: Record<string, string>) => ({ ...env, CI: "", GITHUB_ACTIONS: "", TERM: "xterm-256color" });
const SIZE = { columns: 120, rows: 40 };

/** Where each of `needles` first appears in `text` (-1: nowhere). */
const positions = (text: string, needles: readonly string[]) => needles.map((n) => text.indexOf(n));

describe("apply prints its plan before its first change", () => {
  const sandbox = cliSandbox("wft-planfirst-");
  let config: string;
  let env: Record<string, string>;

  beforeEach(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    // Each test starts from nothing: three resources to create.
    rmSync(join(sandbox.dir, "out"), { recursive: true, force: true });
    rmSync(join(sandbox.dir, ".wfctl"), { recursive: true, force: true });
    mkdirSync(join(sandbox.dir, "out"));
    env = { WFCTL_SOCKET: sandbox.cli.socket };
  });

  it("off a terminal: in the merged log, every line of the plan comes before the first resource's progress line", async () => {
    // stdout and stderr into one pipe, in the order they are written, as a CI runner's log has them.
    const result = await runProgram("/bin/sh", ["-c", 'exec "$@" 2>&1', "sh", process.execPath, WFCTL, "infra", "apply", "-c", config, "--auto-approve"], {
      env: { ...process.env, ...env, CI: "true", GITHUB_ACTIONS: "" },
    });
    expectExit(result, 0);
    const log = result.stdout;
    const firstProgress = log.search(/ \((local\.directory|local\.file)\): created in /);
    expect(firstProgress, log).toBeGreaterThan(0);
    for (const [i, at] of positions(log, PLAN_LINES).entries()) {
      expect(at, `"${PLAN_LINES[i]}" in:\n${log}`).toBeGreaterThanOrEqual(0);
      expect(at, `"${PLAN_LINES[i]}" before the first progress line in:\n${log}`).toBeLessThan(firstProgress);
    }
    // The plan is printed once, and the results after the progress.
    expect(log.split("wfctl will perform these actions:")).toHaveLength(2);
    expect(log.indexOf("Apply complete: 3 created")).toBeGreaterThan(firstProgress);
  });

  it("on a terminal: the plan is on screen before the live display shows the first resource being created", async () => {
    const { code, stdout: screen } = await runOnTerminal(["infra", "apply", "-c", config, "--auto-approve"], TERMINAL(env), "\u0000no prompt", "", SIZE);
    expect(code, screen).toBe(0);
    const firstStarted = screen.search(/(site|index|robots) \(local\.(directory|file)\): creating…/);
    expect(firstStarted, `the live display showed no resource being created:\n${screen}`).toBeGreaterThan(0);
    for (const [i, at] of positions(screen, PLAN_LINES).entries()) {
      expect(at, `"${PLAN_LINES[i]}" on screen:\n${screen}`).toBeGreaterThanOrEqual(0);
      expect(at, `"${PLAN_LINES[i]}" before the first "creating…":\n${screen}`).toBeLessThan(firstStarted);
    }
    expect(screen.split("wfctl will perform these actions:")).toHaveLength(2);
    expect(screen).toContain("Apply complete: 3 created");
  });

  it("asked for approval on a terminal, the plan is shown once: before the question, not again as it is applied", async () => {
    const { code, stdout: screen } = await runOnTerminal(["infra", "apply", "-c", config], TERMINAL(env), "Enter a value:", "yes", SIZE);
    expect(code, screen).toBe(0);
    expect(screen.split("Plan: 3 to create").length - 1, screen).toBe(1);
    expect(screen.indexOf("Plan: 3 to create")).toBeLessThan(screen.indexOf("Do you want to perform these actions?"));
    expect(screen).toContain("Apply complete: 3 created");
  });

  it("with --json: a one-line plan event (what each resource will undergo) comes before the first resource_start", async () => {
    const { result, events, report } = await sandbox.cli.events<{ complete: boolean }>(["infra", "apply", "-c", config, "--auto-approve"], { env: { CI: "true", GITHUB_ACTIONS: "" } });
    expectExit(result, 0);
    const types = events.map((e) => e.type);
    const plan = types.indexOf("plan");
    expect(plan, types.join(" ")).toBeGreaterThan(0);
    expect(types.filter((t) => t === "plan")).toHaveLength(1);
    expect(plan).toBeLessThan(types.indexOf("resource_start"));
    expect(events[plan]).toMatchObject({
      destroy: false,
      summary: { create: 3, update: 0, replace: 0, delete: 0, noop: 0 },
      changes: [
        { name: "site", type: "local.directory", action: "create" },
        { name: "index", type: "local.file", action: "create" },
        { name: "robots", type: "local.file", action: "create" },
      ],
    });
    expect(report.complete).toBe(true);
  });

  it("destroy --auto-approve prints its plan before its first delete too", async () => {
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env: { CI: "true" } }), 0);
    const result = await runProgram("/bin/sh", ["-c", 'exec "$@" 2>&1', "sh", process.execPath, WFCTL, "infra", "destroy", "-c", config, "--auto-approve"], {
      env: { ...process.env, ...env, CI: "true", GITHUB_ACTIONS: "" },
    });
    expectExit(result, 0);
    const log = result.stdout;
    const firstProgress = log.search(/\): deleted in /);
    expect(firstProgress, log).toBeGreaterThan(0);
    expect(log.indexOf("Plan: 3 to destroy.")).toBeGreaterThanOrEqual(0);
    expect(log.indexOf("Plan: 3 to destroy.")).toBeLessThan(firstProgress);
  });
});
