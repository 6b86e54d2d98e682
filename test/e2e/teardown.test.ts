// Teardown and protected resources through the real CLI: teardown refuses
// without --approve or a terminal (and no environment variable stands in),
// previews with --dry-run, asks for the exact "yes" on a terminal, and with
// --approve leaves nothing behind. Protected resources refuse destroy,
// delete-by-plan and teardown unless --allow-protected-destroy.
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { treeHash } from "../helpers/files.js";
import { runOnTerminal } from "../helpers/terminal.js";

const TEARDOWN_PROMPT = "Type 'yes' to destroy";

const CONFIG = `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }

  - name: app
    type: local.directory
    provider: local
    config: { path: app }

  - name: conf
    type: local.file
    provider: local
    depends_on: [app]
    config: { path: app/app.conf, content: "port = 8080\\n" }

  - name: keep
    type: local.file
    provider: local
    protected: true
    config: { path: keep.txt, content: "precious\\n" }
`;

describe("teardown", () => {
  const sandbox = cliSandbox("wft-teardown-");
  let config: string;
  const run = (args: string[], env?: Record<string, string>) => sandbox.cli.run(args, { env });
  const out = (path: string) => join(sandbox.dir, "out", path);
  const state = () => join(sandbox.dir, ".wfctl", "state");
  const everything = () => ["app", "app/app.conf", "keep.txt"].map((p) => existsSync(out(p)));
  const stateNames = async () => {
    const { value } = await sandbox.cli.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config]);
    return value.resources.map((r) => r.name).sort();
  };

  beforeAll(async () => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
  });

  it("without flags and without a terminal it refuses with exit 1 and touches nothing; no environment variable stands in for --approve", async () => {
    const before = treeHash(state());
    for (const env of [{} as Record<string, string>, { WFCTL_APPROVE: "1", WFCTL_TEARDOWN_APPROVE: "true", WFCTL_AUTO_APPROVE: "true", CI: "true", YES: "1", TF_INPUT: "0" }]) {
      const result = await run(["infra", "teardown", "-c", config], env);
      expectExit(result, 1);
      expect(result.stderr).toContain("refusing to destroy without --approve or interactive confirmation; run with --dry-run first");
    }
    // Decided before anything is contacted: no daemon is started for it.
    const fresh = join(sandbox.dir, "no-daemon-here", "wfctld.sock");
    expectExit(await run(["infra", "teardown", "-c", config], { WFCTL_SOCKET: fresh }), 1);
    expect(existsSync(fresh)).toBe(false);
    expect(everything()).toEqual([true, true, true]);
    expect(treeHash(state())).toBe(before);
  });

  it("--dry-run lists every resource and state key, says which are protected, and touches nothing", async () => {
    const before = treeHash(state());
    const result = await run(["infra", "teardown", "-c", config, "--dry-run"]);
    expectExit(result, 0);
    expect(result.stdout).toContain("Resources to destroy (3):");
    expect(result.stdout).toMatch(/- app\s+local\.directory/);
    expect(result.stdout).toMatch(/- conf\s+local\.file/);
    expect(result.stdout).toMatch(/- keep\s+local\.file\s+\[protected: refused without --allow-protected-destroy\]/);
    expect(result.stdout).toContain("State keys to wipe (3):");
    for (const key of ["default/app", "default/conf", "default/keep"]) expect(result.stdout).toContain(`- ${key}`);
    expect(result.stdout).toContain("Dry run: nothing was destroyed or wiped");
    const { report: value } = await sandbox.cli.events<{ dry_run: boolean; state_keys: string[] }>(["infra", "teardown", "-c", config, "--dry-run"]);
    expect(value).toMatchObject({ dry_run: true, state_keys: ["default/app", "default/conf", "default/keep"] });
    expect(everything()).toEqual([true, true, true]);
    expect(treeHash(state())).toBe(before);
  });

  it("--approve refuses a protected resource (naming it) and destroys nothing", async () => {
    const before = treeHash(state());
    const result = await run(["infra", "teardown", "-c", config, "--approve"]);
    expectExit(result, 1);
    expect(result.stderr).toContain("refusing to destroy protected resource(s): keep (local.file, delete)");
    expect(result.stderr).toContain("--allow-protected-destroy");
    expect(everything()).toEqual([true, true, true]);
    expect(treeHash(state())).toBe(before);
  });

  it("on a terminal it shows the preview and proceeds only on the exact answer yes", async () => {
    const before = treeHash(state());
    // Refused before the question when a protected resource would be destroyed without the second key.
    const refused = await runOnTerminal(["infra", "teardown", "-c", config], { WFCTL_SOCKET: sandbox.cli.socket }, TEARDOWN_PROMPT, "yes");
    expectExit(refused, 1);
    expect(refused.stdout).toContain("Resources to destroy (3):");
    expect(refused.stdout).not.toContain("Type 'yes'");
    expect(refused.stdout).toContain("refusing to destroy protected resource(s): keep (local.file, delete)");
    for (const answer of ["y", "YES", "yes please"]) {
      const declined = await runOnTerminal(["infra", "teardown", "-c", config, "--allow-protected-destroy"], { WFCTL_SOCKET: sandbox.cli.socket }, TEARDOWN_PROMPT, answer);
      expectExit(declined, 1);
      expect(declined.stdout).toContain("Resources to destroy (3):");
      expect(declined.stdout).toContain("Type 'yes' to destroy all 3 resources and wipe state:");
      expect(declined.stdout).toContain("Teardown cancelled: nothing was destroyed or wiped.");
    }
    expect(everything()).toEqual([true, true, true]);
    expect(treeHash(state())).toBe(before);

    const approved = await runOnTerminal(["infra", "teardown", "-c", config, "--allow-protected-destroy"], { WFCTL_SOCKET: sandbox.cli.socket }, TEARDOWN_PROMPT, "yes");
    expectExit(approved, 0);
    expect(approved.stdout).toContain("State wiped: 3 key(s) removed");
    expect(everything()).toEqual([false, false, false]);
    expect(await stateNames()).toEqual([]);
  });

  it("--approve destroys everything and leaves empty state", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(everything()).toEqual([true, true, true]);
    const result = await run(["infra", "teardown", "-c", config, "--approve", "--allow-protected-destroy"]);
    expectExit(result, 0);
    expect(result.stdout).toContain("State wiped: 3 key(s) removed");
    expect(everything()).toEqual([false, false, false]);
    expect(await stateNames()).toEqual([]);
    // No record left on disk either (locks are released, so none of those remain).
    expect(readdirSync(join(state(), "default", "resources"))).toEqual([]);
    expect(readdirSync(join(state(), "default", "locks"))).toEqual([]);
    const again = await run(["infra", "teardown", "-c", config, "--dry-run"]);
    expect(again.stdout).toContain("Nothing to tear down");
  });
});

describe("protected resources", () => {
  const sandbox = cliSandbox("wft-protected-");
  let config: string;
  const run = (args: string[]) => sandbox.cli.run(args);
  const out = (path: string) => join(sandbox.dir, "out", path);

  beforeAll(async () => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
  });

  it("destroy refuses a protected resource unless --allow-protected-destroy; nothing is destroyed when refused", async () => {
    const refused = await run(["infra", "destroy", "-c", config, "--auto-approve"]);
    expectExit(refused, 1);
    expect(refused.stderr).toContain("refusing to destroy protected resource(s): keep (local.file, delete)");
    expect(existsSync(out("keep.txt"))).toBe(true);
    expect(existsSync(out("app/app.conf"))).toBe(true);
  });

  it("a protected resource removed from the configuration is not deleted by the plan unless allowed", async () => {
    writeFileSync(config, CONFIG.slice(0, CONFIG.indexOf("  - name: keep")));
    const refused = await run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(refused, 1);
    expect(refused.stderr).toContain("refusing to delete or replace protected resource(s): keep (local.file, delete)");
    expect(readFileSync(out("keep.txt"), "utf8")).toBe("precious\n");

    const allowed = await run(["infra", "apply", "-c", config, "--auto-approve", "--allow-protected-destroy"]);
    expectExit(allowed, 0);
    expect(existsSync(out("keep.txt"))).toBe(false);
  });

  it("protected: false in the configuration takes effect at once (the first key removed)", async () => {
    writeFileSync(config, CONFIG);
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    writeFileSync(config, CONFIG.replace("    protected: true\n", "    protected: false\n"));
    expectExit(await run(["infra", "destroy", "-c", config, "--auto-approve"]), 0);
    expect(existsSync(out("keep.txt"))).toBe(false);
  });
});
