// Part of a stack through the real CLI (issue 19, acceptance 5's --target):
// `--target NAME` plans and applies that resource and what it depends on,
// and leaves every other resource alone (state and files say so), with a
// warning that the result is partial; `--replace NAME` replaces a resource
// whose configuration did not change, protected resources keep their
// protection, and unknown names are errors naming the flag.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { treeHash } from "../helpers/files.js";

const CONFIG = (protectIndex: boolean) => `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: site
    type: local.directory
    provider: local
    config: { path: site, force_destroy: true }
  - name: index
    type: local.file
    provider: local
    depends_on: [site]${protectIndex ? "\n    protected: true" : ""}
    config: { path: site/index.html, content: "hello" }
  - name: robots
    type: local.file
    provider: local
    config: { path: "\${site.path}/robots.txt", content: "User-agent: *" }
  - name: notes
    type: local.file
    provider: local
    config: { path: notes.txt, content: "not targeted" }
`;

interface Listed {
  resources: { name: string; created_at: string; updated_at: string }[];
}

describe("--target and --replace", () => {
  const sandbox = cliSandbox("wft-scope-");
  let config: string;
  let out: string;
  const run = (args: string[]) => sandbox.cli.run(args, { env: { CI: "true", GITHUB_ACTIONS: "" } });
  const records = async () => {
    const listed = JSON.parse((await run(["infra", "state", "list", "-c", config, "--json"])).stdout) as Listed;
    return new Map(listed.resources.map((r) => [r.name, r]));
  };

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    out = join(sandbox.dir, "out");
    writeFileSync(config, CONFIG(false));
  });

  it("apply --target applies that resource and what it depends on (by depends_on and by reference) only, and warns that the result is partial", async () => {
    const apply = await run(["infra", "apply", "-c", config, "--auto-approve", "--target", "robots"]);
    expectExit(apply, 0);
    expect(apply.stdout).toContain("Plan: 2 to create, 0 to update, 0 to replace, 0 to delete.");
    expect(apply.stdout).toContain("Warning: partial plan: --target robots covers only it and what it depends on (site)");
    expect(apply.stdout).toContain("Apply complete: 2 created");
    expect([...(await records()).keys()].sort()).toEqual(["robots", "site"]);
    expect(readFileSync(join(out, "site", "robots.txt"), "utf8")).toBe("User-agent: *");
    expect(existsSync(join(out, "site", "index.html"))).toBe(false);
    expect(existsSync(join(out, "notes.txt"))).toBe(false);
  });

  it("plan --target shows only the targeted part, with its targets and warning in --json", async () => {
    const { result, report } = await sandbox.cli.events<{ targets: string[]; warnings: string[]; changes: { name: string; action: string }[] }>(
      ["infra", "plan", "-c", config, "--target", "index"],
      { env: { CI: "true" } },
    );
    expectExit(result, 0);
    expect(report.targets).toEqual(["index"]);
    expect(report.changes.map((c) => [c.name, c.action])).toEqual([["site", "noop"], ["index", "create"]]);
    expect(report.warnings).toEqual([expect.stringContaining("partial plan: --target index")]);
  });

  it("an unknown --target or --replace is an error naming the flag and the name; nothing is planned", async () => {
    for (const flag of ["--target", "--replace"]) {
      const refused = await run(["infra", "plan", "-c", config, flag, "nope"]);
      expectExit(refused, 64);
      expect(refused.stderr).toContain(`${flag} "nope": no resource of that name in ${config}`);
    }
    const outside = await run(["infra", "plan", "-c", config, "--target", "robots", "--replace", "notes"]);
    expectExit(outside, 64);
    expect(outside.stderr).toContain(`--replace "notes": it is outside what --target selects (robots, site)`);
  });

  it("--replace replaces a resource whose configuration did not change, with the reason in the plan; the others stay as they are", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const before = await records();
    const apply = await run(["infra", "apply", "-c", config, "--auto-approve", "--replace", "notes"]);
    expectExit(apply, 0);
    expect(apply.stdout).toMatch(/-\/\+ notes\s+local\.file\s+\(replace\)\n\s+# replace requested with --replace\n/);
    expect(apply.stdout).toContain("Apply complete: 0 created, 0 updated, 1 replaced, 0 deleted.");
    const after = await records();
    expect(after.get("notes")?.created_at).not.toBe(before.get("notes")?.created_at);
    for (const name of ["site", "index", "robots"]) expect(after.get(name)).toEqual(before.get(name));
    expect(readFileSync(join(out, "notes.txt"), "utf8")).toBe("not targeted");
  });

  it("a protected resource keeps its protection under --replace: refused, nothing changed, unless --allow-protected-destroy", async () => {
    writeFileSync(config, CONFIG(true));
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const before = { records: await records(), files: treeHash(out) };
    const refused = await run(["infra", "apply", "-c", config, "--auto-approve", "--replace", "index"]);
    expectExit(refused, 1);
    expect(refused.stderr).toContain("refusing to delete or replace protected resource(s): index (local.file, replace)");
    expect({ records: await records(), files: treeHash(out) }).toEqual(before);
    const allowed = await run(["infra", "apply", "-c", config, "--auto-approve", "--replace", "index", "--allow-protected-destroy"]);
    expectExit(allowed, 0);
    expect(allowed.stdout).toContain("1 replaced");
  });
});
