// Drift and recovery through the real CLI, daemon and local provider:
// ghost / config / in-sync; apply --refresh as a dry run, then pruning with
// an audit line; protected ghosts need the second key; a misplaced flag is
// refused before any work.
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { daemonFiles } from "../../proto/socket.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { treeHash } from "../helpers/files.js";
import { FIXTURE_PLUGINS, QUICKSTART } from "../helpers/paths.js";

interface DriftJson {
  results: { name: string; type: string; class?: string; drifted: boolean; fields: { field: string; expected: unknown; actual: unknown }[] }[];
}

describe("drift and recovery", () => {
  const sandbox = cliSandbox("wft-drift-");
  let config: string;
  const site = (file: string) => join(sandbox.dir, "out", "site", file);
  const stateDir = () => join(sandbox.dir, ".wfctl", "state");
  const run = (args: string[]) => sandbox.cli.run(args);
  const stateNames = async () => {
    const { value } = await sandbox.cli.json<{ resources: { name: string; created_at: string }[] }>(["infra", "state", "list", "-c", config]);
    return Object.fromEntries(value.resources.map((r) => [r.name, r.created_at]));
  };

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    copyFileSync(join(QUICKSTART, "infra.yaml"), config);
  });

  it("reports a deleted file as ghost, an edited one as config drift with expected and actual, the rest in sync", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    rmSync(site("robots.txt"));
    writeFileSync(site("index.html"), "edited by hand\n");

    const { result, value } = await sandbox.cli.json<DriftJson>(["infra", "drift", "-c", config]);
    expectExit(result, 0);
    const byName = Object.fromEntries(value.results.map((r) => [r.name, r]));
    expect(byName["robots"]).toMatchObject({ type: "local.file", class: "ghost", drifted: true, fields: [] });
    expect(byName["index"]).toMatchObject({ class: "config", drifted: true });
    expect(byName["index"]?.fields).toEqual([
      { field: "content", expected: "<!doctype html>\n<title>wfctl quickstart</title>\n<p>Hello from wfctl.</p>\n", actual: "edited by hand\n" },
    ]);
    expect(byName["site"]).toMatchObject({ class: "in-sync", drifted: false });

    const text = await run(["infra", "drift", "-c", config, "--detailed-exitcode"]);
    expectExit(text, 2);
    expect(text.stdout).toMatch(/^GHOST\s+robots\s+local\.file$/m);
    expect(text.stdout).toMatch(/^CONFIG\s+index\s+local\.file$/m);
    expect(text.stdout).toMatch(/content: expected=".*Hello from wfctl\.<\/p>\\n" actual="edited by hand\\n"/);
    expect(text.stdout).toMatch(/^IN-SYNC\s+site\s+local\.directory$/m);
    expect(text.stdout).toContain("wfctl infra apply --refresh");
  });

  it("apply --refresh without --auto-approve is a dry run: says what it would prune, state is byte-for-byte unchanged", async () => {
    const before = treeHash(stateDir());
    const result = await run(["infra", "apply", "-c", config, "--refresh"]);
    expectExit(result, 0);
    expect(result.stdout).toContain("would prune robots (local.file)");
    expect(result.stdout).toContain("Dry run: nothing was changed");
    expect(treeHash(stateDir())).toBe(before);
    expect(existsSync(site("robots.txt"))).toBe(false);
  });

  it("apply --refresh --auto-approve prunes the ghost with an audit line, then re-creates it and fixes the config drift", async () => {
    const createdBefore = (await stateNames())["robots"];
    const result = await run(["infra", "apply", "-c", config, "--refresh", "--auto-approve"]);
    expectExit(result, 0);
    expect(result.stderr).toMatch(/^\S+Z AUDIT prune operation="apply --refresh" resource=robots type=local\.file environment=\(none\) caller=\S+@\S+ operation_id=\S+$/m);
    const audit = readFileSync(daemonFiles(sandbox.cli.socket).audit, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    expect(audit.at(-1)).toMatchObject({ action: "prune", resource: "robots", type: "local.file", operation: "apply --refresh" });
    expect(statSync(daemonFiles(sandbox.cli.socket).audit).mode & 0o777).toBe(0o600);
    // Re-created: a new record, and the file is back.
    expect(readFileSync(site("robots.txt"), "utf8")).toBe("User-agent: *\nDisallow:\n");
    expect((await stateNames())["robots"]).not.toBe(createdBefore);
    expect(readFileSync(site("index.html"), "utf8")).toContain("Hello from wfctl.");
    expectExit(await run(["infra", "drift", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("two ghosts, one protected: nothing is pruned and the protected one is named; --allow-protected-prune prunes both", async () => {
    writeFileSync(config, readFileSync(config, "utf8").replace("  - name: robots\n    type: local.file\n", "  - name: robots\n    type: local.file\n    protected: true\n"));
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    rmSync(site("robots.txt"));
    rmSync(site("index.html"));
    const before = treeHash(stateDir());

    // A plain plan changes nothing for ghosts, but says so, and counts them as a difference.
    const plan = await run(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(plan, 2);
    expect(plan.stdout).toContain("No changes planned, but state does not match what exists.");
    expect(plan.stdout).toMatch(/^\s+!\s+robots\s+local\.file\s+\[protected\]$/m);
    expect(plan.stdout).toMatch(/^\s+!\s+index\s+local\.file$/m);
    expect(plan.stdout).toContain("wfctl infra apply --refresh");

    const refused = await run(["infra", "apply", "-c", config, "--refresh", "--auto-approve"]);
    expectExit(refused, 1);
    expect(refused.stderr).toContain("refusing to prune protected resource(s) from state: robots (local.file)");
    expect(refused.stderr).toContain("nothing was pruned");
    expect(refused.stderr).not.toContain("AUDIT");
    expect(treeHash(stateDir())).toBe(before);

    const allowed = await run(["infra", "apply", "-c", config, "--refresh", "--auto-approve", "--allow-protected-prune"]);
    expectExit(allowed, 0);
    expect(allowed.stderr.match(/AUDIT prune/g)).toHaveLength(2);
    expect(allowed.stderr).toContain("resource=robots");
    expect(allowed.stderr).toContain("resource=index");
    expect(existsSync(site("robots.txt"))).toBe(true);
    expect(existsSync(site("index.html"))).toBe(true);
  });

  it("apply --refresh whose plan is refused prunes nothing: the plan is checked before the first prune", async () => {
    const original = readFileSync(config, "utf8");
    // The site directory becomes protected and would be replaced (its path forces a new one).
    writeFileSync(config, original.replace("  - name: site\n    type: local.directory\n    provider: local\n    config:\n      path: site\n", "  - name: site\n    type: local.directory\n    provider: local\n    protected: true\n    config:\n      path: site-moved\n"));
    rmSync(site("robots.txt"));
    const before = treeHash(stateDir());
    const refused = await run(["infra", "apply", "-c", config, "--refresh", "--auto-approve", "--allow-protected-prune"]);
    expectExit(refused, 1);
    expect(refused.stderr).toContain("refusing to delete or replace protected resource(s): site (local.directory, replace)");
    expect(refused.stderr).not.toContain("AUDIT");
    expect(treeHash(stateDir())).toBe(before);
    writeFileSync(config, original);
    expectExit(await run(["infra", "apply", "-c", config, "--refresh", "--auto-approve", "--allow-protected-prune"]), 0);
    expect(existsSync(site("robots.txt"))).toBe(true);
  });

  it("a configuration changed to match what exists: apply changes nothing and records what exists, so drift is cleared", async () => {
    writeFileSync(site("index.html"), "made by hand\n");
    const original = readFileSync(config, "utf8");
    const start = original.indexOf("      content: |\n        <!doctype html>");
    const end = original.indexOf("\n\n", start);
    writeFileSync(config, `${original.slice(0, start)}      content: "made by hand\\n"${original.slice(end)}`);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
    expectExit(await run(["infra", "drift", "-c", config, "--detailed-exitcode"]), 2); // state still holds what was applied
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expectExit(await run(["infra", "drift", "-c", config, "--detailed-exitcode"]), 0);
    expect(readFileSync(site("index.html"), "utf8")).toBe("made by hand\n");
  });

  it("--allow-protected-prune without --refresh is refused before anything is contacted", async () => {
    const fresh = join(sandbox.dir, "no-daemon-here", "wfctld.sock");
    const result = await sandbox.cli.run(["infra", "apply", "-c", config, "--allow-protected-prune", "--auto-approve"], { env: { WFCTL_SOCKET: fresh } });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("--allow-protected-prune only applies with --refresh");
    expect(existsSync(fresh)).toBe(false); // no daemon was started, so no plugin either
  });
});

describe("drift with a provider that serves no drift detector", () => {
  const sandbox = cliSandbox("wft-drift-plain-");
  let config: string;
  const out = (file: string) => join(sandbox.dir, "out", file);
  const run = (args: string[]) => sandbox.cli.run(args);

  beforeAll(async () => {
    config = join(sandbox.dir, "infra.yaml");
    // The slowfs fixture without its drift detector: wfctl classifies from Read.
    writeFileSync(
      join(sandbox.dir, "plain-plugin.mjs"),
      `process.env["SLOWFS_NO_DRIFT"] = "1";\nawait import(${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))});\n`,
    );
    writeFileSync(join(sandbox.dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./plain-plugin.mjs\n    version: 2.0.0\n");
    writeFileSync(
      config,
      "modules:\n  - name: files\n    type: iac.provider\n    config: { provider: slowfs, root: out }\n" +
        ["a", "b", "c"].map((n) => `  - name: ${n}\n    type: slowfs.file\n    provider: files\n    config: { path: ${n}.txt, content: ${n} }\n`).join(""),
    );
    expectExit(await run(["plugins", "lock", "-c", config]), 0);
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
  });

  it("reports a resource Read cannot find as ghost and one whose fields differ as config drift; apply --refresh converges", async () => {
    const inspect = await sandbox.cli.json<{ plugins: { services: string[] }[] }>(["plugins", "inspect", "slowfs"]);
    const services = inspect.value.plugins[0]?.services.join(" ") ?? "";
    expect(services).toContain("IaCProvider");
    expect(services).not.toContain("IaCDriftDetector");
    rmSync(out("a.txt"));
    writeFileSync(out("b.txt"), "changed");
    const { value } = await sandbox.cli.json<DriftJson>(["infra", "drift", "-c", config]);
    expect(value.results.map((r) => [r.name, r.class])).toEqual([
      ["a", "ghost"],
      ["b", "config"],
      ["c", "in-sync"],
    ]);
    expect(value.results[1]?.fields).toEqual([{ field: "content", expected: "b", actual: "changed" }]);
    const applied = await run(["infra", "apply", "-c", config, "--refresh", "--auto-approve"]);
    expectExit(applied, 0);
    expect(applied.stderr).toContain("AUDIT prune");
    expect(readFileSync(out("a.txt"), "utf8")).toBe("a");
    expect(readFileSync(out("b.txt"), "utf8")).toBe("b");
    expectExit(await run(["infra", "drift", "-c", config, "--detailed-exitcode"]), 0);
  });
});

describe("drift with a provider that batches (IaCBatchProvider)", () => {
  const sandbox = cliSandbox("wft-drift-batch-");

  it("sends the drift detections of the whole stack through DetectDrifts, and classifies each resource as the single call would", async () => {
    const config = join(sandbox.dir, "infra.yaml");
    writeFileSync(join(sandbox.dir, "batch-plugin.mjs"), `await import(${JSON.stringify(join(FIXTURE_PLUGINS, "batch-provider.mjs"))});\n`);
    writeFileSync(join(sandbox.dir, "wfctl.yaml"), "plugins:\n  - name: batch-provider\n    kind: provider\n    source: ./batch-plugin.mjs\n    version: 1.0.0\n");
    // The fixture reads "gone-…" as not found: a ghost among 24 resources in sync.
    const names = [...Array.from({ length: 24 }, (_, i) => `t${i}`), "gone-x"];
    writeFileSync(
      config,
      "modules:\n  - name: things\n    type: iac.provider\n    config: { provider: batch-provider }\n" +
        names.map((n) => `  - name: ${n}\n    type: batch.thing\n    provider: things\n    config: { label: ${n} }\n`).join(""),
    );
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", config]), 0);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const { value } = await sandbox.cli.json<DriftJson>(["infra", "drift", "-c", config]);
    expect(value.results.map((r) => [r.name, r.class])).toEqual(names.map((n) => [n, n === "gone-x" ? "ghost" : "in-sync"]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    // Each read the plugin made for the drift came inside a DetectDrifts call (its log, forwarded to wfctld.log).
    const reads = readFileSync(daemonFiles(sandbox.cli.socket).log, "utf8")
      .split("\n")
      .filter((line) => line.includes("fixture: read"))
      .map((line) => (JSON.parse(line) as { plugin_log?: { name?: string; method?: string } }).plugin_log ?? {});
    const drift = reads.filter((r) => r.method?.includes("DetectDrift"));
    expect(new Set(drift.map((r) => r.name))).toEqual(new Set(names));
    expect(new Set(drift.map((r) => r.method))).toEqual(new Set(["/wfctl.plugin.v1.IaCBatchProvider/DetectDrifts"]));
  });
});
