// Streamed progress through the real CLI: --json prints one event per line
// (operation start, each resource planned, started and finished or failed,
// then a summary carrying the report); without --json and without a terminal,
// plain timestamped lines go to stderr and stdout keeps the report.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type JsonEvent, cliSandbox, expectExit } from "../helpers/cli.js";
import { siteStack } from "../helpers/stacks.js";

const CONFIG = siteStack();

/** A file whose parent is a regular file: its create fails. */
const BROKEN = `  - name: broken
    type: local.file
    provider: local
    config: { path: blocker/x.txt, content: "never" }
`;

const NO_TERMINAL = { CI: "true", GITHUB_ACTIONS: "" };

describe("streamed progress", () => {
  const sandbox = cliSandbox("wft-progress-");
  let config: string;

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    mkdirSync(join(sandbox.dir, "out"), { recursive: true });
    writeFileSync(join(sandbox.dir, "out", "blocker"), "a file, not a directory\n");
  });

  const ofResource = (events: JsonEvent[], name: string) => events.filter((e) => e.resource?.name === name).map((e) => e.type);

  it("apply --json prints one JSON object per line: start, each resource's events in order, and a summary with the report", async () => {
    const { result, events, summary, report } = await sandbox.cli.events<{ complete: boolean; results: { name: string; outcome: string }[] }>(
      ["infra", "apply", "-c", config, "--auto-approve"],
      { env: NO_TERMINAL },
    );
    expectExit(result, 0);
    expect(result.stdout.trim().split("\n")).toHaveLength(events.length);
    expect(events[0]).toMatchObject({ type: "operation_start", operation: "apply", config, env: "" });
    const id = events[0]?.operation_id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    events.forEach((event, i) => {
      expect(event.operation_id).toBe(id);
      expect(event.sequence).toBe(i + 1);
      expect(Number.isNaN(Date.parse(event.time))).toBe(false);
    });
    for (const name of ["site", "index", "robots"]) expect(ofResource(events, name)).toEqual(["resource_planned", "resource_start", "resource_finish"]);
    const finished = events.filter((e) => e.type === "resource_finish");
    expect(finished.every((e) => e.action === "create" && typeof e.duration_ms === "number")).toBe(true);
    // site is finished before either file (they depend on it) starts.
    const at = (type: string, name: string) => events.findIndex((e) => e.type === type && e.resource?.name === name);
    expect(at("resource_finish", "site")).toBeLessThan(at("resource_start", "index"));
    expect(at("resource_finish", "site")).toBeLessThan(at("resource_start", "robots"));
    expect(summary).toMatchObject({ operation: "apply", ok: true, planned: { create: 3 }, finished: { create: 3 }, failed: 0, skipped: 0 });
    expect(report.complete).toBe(true);
    expect(report.results.map((r) => r.outcome)).toEqual(["succeeded", "succeeded", "succeeded"]);
  });

  it("a failed resource is a resource_fail event with its error; the summary counts it and says the apply did not succeed", async () => {
    writeFileSync(config, CONFIG + BROKEN);
    const { result, events, summary } = await sandbox.cli.events(["infra", "apply", "-c", config, "--auto-approve"], { env: NO_TERMINAL });
    expectExit(result, 1);
    expect(ofResource(events, "broken")).toEqual(["resource_planned", "resource_start", "resource_fail"]);
    const failed = events.find((e) => e.type === "resource_fail");
    expect(failed?.error?.code).toBeTruthy();
    expect(failed?.error?.message).toContain("blocker");
    expect(summary).toMatchObject({ ok: false, failed: 1, planned: { create: 1, noop: 3 } });
    writeFileSync(config, CONFIG);
  });

  it("plan, refresh, destroy and teardown --json stream too, each ending with its summary", async () => {
    const plan = await sandbox.cli.events<{ changes: unknown[] }>(["infra", "plan", "-c", config], { env: NO_TERMINAL });
    expect(plan.events.map((e) => e.type)).toEqual(["operation_start", "resource_planned", "resource_planned", "resource_planned", "summary"]);
    expect(plan.summary).toMatchObject({ operation: "plan", ok: true, planned: { noop: 3 } });
    expect(plan.report.changes).toHaveLength(3);
    const refresh = await sandbox.cli.events<{ dry_run: boolean }>(["infra", "refresh", "-c", config], { env: NO_TERMINAL });
    expect(refresh.events.filter((e) => e.type === "resource_finish" && e.action === "read")).toHaveLength(3);
    expect(refresh.report.dry_run).toBe(true);
    const destroy = await sandbox.cli.events(["infra", "destroy", "-c", config, "--auto-approve"], { env: NO_TERMINAL });
    expectExit(destroy.result, 0);
    expect(destroy.summary).toMatchObject({ operation: "destroy", ok: true, finished: { delete: 3 } });
    const teardown = await sandbox.cli.events<{ dry_run: boolean }>(["infra", "teardown", "-c", config, "--dry-run"], { env: NO_TERMINAL });
    expect(teardown.summary).toMatchObject({ operation: "teardown", ok: true });
    expect(teardown.report.dry_run).toBe(true);
  });

  it("without --json and without a terminal: timestamped lines on stderr as resources settle; stdout keeps the report", async () => {
    const result = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env: NO_TERMINAL });
    expectExit(result, 0);
    const lines = result.stderr.trim().split("\n");
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
    expect(lines[0]).toMatch(/ apply started$/);
    expect(result.stderr).toMatch(/ site \(local\.directory\): created in \d+\.\ds/);
    expect(result.stderr).toMatch(/ apply finished after \d+\.\ds: 3 created/);
    expect(result.stdout).toContain("Apply complete");
    expect(result.stdout).not.toMatch(/^\d{4}-\d\d-\d\dT/m);
  });
});
