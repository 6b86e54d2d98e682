// The order of a replace, through the real CLI, daemon and local provider:
// what depends on a replaced resource and is replaced (or deleted) with it
// goes first (Terraform's order: dependents deleted, then the resource
// deleted, then it is created, then the dependents), so a directory holding
// the files managed under it is replaced without force_destroy. With
// create_before_destroy the replacement is made first, what depends on it
// is pointed to it, and the old one is deleted last.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type JsonEvent, cliSandbox, expectExit } from "../helpers/cli.js";

/** A directory (no force_destroy) and two files whose paths refer to it; `site` gets `siteExtra` (indented module keys). */
function stack(dir: string, siteExtra = ""): string {
  return `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: site
    type: local.directory
    provider: local
${siteExtra}    config: { path: ${dir} }
  - name: index
    type: local.file
    provider: local
    config: { path: "\${site.path}/index.html", content: "hello" }
  - name: robots
    type: local.file
    provider: local
    config: { path: "\${site.path}/robots.txt", content: "User-agent: *" }
`;
}

interface PlanJson {
  changes: { name: string; action: string; create_before_destroy?: boolean; fields: { field: string; before?: unknown; after?: unknown; forces_replace: boolean }[] }[];
}

interface ApplyJson {
  results: { name: string; action: string; outcome: string; error?: string }[];
}

/** The steps of an apply as "name:detail:phase" (start/finish), in the order its events came. */
function steps(events: readonly JsonEvent[]): string[] {
  return events
    .filter((e) => (e.type === "resource_start" || e.type === "resource_finish") && e.action === "replace")
    .map((e) => `${e.resource?.name ?? "?"}:${String(e["detail"] ?? "")}:${e.type === "resource_start" ? "start" : "finish"}`);
}

/** Asserts that every step in `first` ended before any step in `then` started. */
function expectBefore(order: readonly string[], first: readonly string[], then: readonly string[]): void {
  const at = (step: string) => {
    const i = order.indexOf(step);
    expect(i, `${step} in ${order.join(", ")}`).toBeGreaterThanOrEqual(0);
    return i;
  };
  for (const a of first) for (const b of then) expect(at(`${a}:finish`), `${a} ends before ${b} starts: ${order.join(", ")}`).toBeLessThan(at(`${b}:start`));
}

describe("replace order", () => {
  const sandbox = cliSandbox("wft-replace-");
  let config: string;
  const out = (path: string) => join(sandbox.dir, "out", path);
  const run = (args: string[]) => sandbox.cli.run(args);

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, stack("site"));
  });

  it("a replaced directory holding the files managed under it: files deleted, then the directory, then both created; no force_destroy", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    writeFileSync(config, stack("www"));

    const { report: plan } = await sandbox.cli.events<PlanJson>(["infra", "plan", "-c", config]);
    const byName = Object.fromEntries(plan.changes.map((c) => [c.name, c]));
    expect(byName["site"]?.action).toBe("replace");
    for (const file of ["index", "robots"]) expect(byName[file]?.action, JSON.stringify(byName[file])).toBe("replace");

    const { result, events, report } = await sandbox.cli.events<ApplyJson>(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(result, 0);
    expect(report.results.map((r) => `${r.name}:${r.action}:${r.outcome}`).sort()).toEqual(["index:replace:succeeded", "robots:replace:succeeded", "site:replace:succeeded"]);
    const order = steps(events);
    expectBefore(order, ["index:delete", "robots:delete"], ["site:delete"]);
    expectBefore(order, ["site:delete"], ["site:create"]);
    expectBefore(order, ["site:create"], ["index:create", "robots:create"]);
    expect(readFileSync(out("www/index.html"), "utf8")).toBe("hello");
    expect(readFileSync(out("www/robots.txt"), "utf8")).toBe("User-agent: *");
    expect(existsSync(out("site"))).toBe(false);
    // The summary counts each replace once.
    const summary = events.find((e) => e.type === "summary");
    expect(summary?.["finished"]).toEqual({ replace: 3 });
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("--replace of the directory replaces the files whose paths refer to it: their path is known only after apply", async () => {
    const { report: plan } = await sandbox.cli.events<PlanJson>(["infra", "plan", "-c", config, "--replace", "site"]);
    const index = plan.changes.find((c) => c.name === "index");
    expect(index?.action).toBe("replace");
    expect(index?.fields.find((f) => f.field === "path")).toMatchObject({ before: "www/index.html", after: "(known after apply)", forces_replace: true });

    const { result, events } = await sandbox.cli.events<ApplyJson>(["infra", "apply", "-c", config, "--auto-approve", "--replace", "site"]);
    expectExit(result, 0);
    const order = steps(events);
    expectBefore(order, ["index:delete", "robots:delete"], ["site:delete"]);
    expectBefore(order, ["site:create"], ["index:create", "robots:create"]);
    expect(readFileSync(out("www/index.html"), "utf8")).toBe("hello");
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("create_before_destroy: the new directory is made first, the files are moved into it, and the old directory is deleted last", async () => {
    writeFileSync(config, stack("web", "    create_before_destroy: true\n"));
    const text = await run(["infra", "plan", "-c", config]);
    expectExit(text, 0);
    expect(text.stdout).toMatch(/^\s+\+\/-\s+site\s+local\.directory\s+\(replace, create before destroy\)$/m);
    expect(text.stdout).toMatch(/^\s+-\/\+\s+index\s+local\.file\s+\(replace\)$/m);
    const { report: plan } = await sandbox.cli.events<PlanJson>(["infra", "plan", "-c", config]);
    expect(plan.changes.find((c) => c.name === "site")).toMatchObject({ action: "replace", create_before_destroy: true });

    const { result, events } = await sandbox.cli.events<ApplyJson>(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(result, 0);
    const order = steps(events);
    expectBefore(order, ["site:create"], ["index:create", "robots:create", "site:delete"]);
    expectBefore(order, ["index:create", "robots:create", "index:delete", "robots:delete"], ["site:delete"]);
    expect(readFileSync(out("web/index.html"), "utf8")).toBe("hello");
    expect(existsSync(out("www"))).toBe(false);
    const { value } = await sandbox.cli.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config]);
    expect(value.resources.map((r) => r.name).sort()).toEqual(["index", "robots", "site"]);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("create_before_destroy on a file replaced at the same path fails (two cannot exist at once), and state still describes what exists", async () => {
    writeFileSync(config, stack("web").replace("    config: { path: \"${site.path}/index.html\"", "    create_before_destroy: true\n    config: { path: \"${site.path}/index.html\""));
    const { result, report } = await sandbox.cli.events<ApplyJson>(["infra", "apply", "-c", config, "--auto-approve", "--replace", "index"]);
    expectExit(result, 1);
    const index = report.results.find((r) => r.name === "index");
    expect(index?.outcome).toBe("failed");
    expect(index?.error).toContain("create_before_destroy");
    expect(readFileSync(out("web/index.html"), "utf8")).toBe("hello");
    const { value } = await sandbox.cli.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config]);
    expect(value.resources.map((r) => r.name).sort()).toEqual(["index", "robots", "site"]);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });
});
