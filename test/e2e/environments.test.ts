// Environments (seed 001) through the real CLI: `--env staging` resolves a
// renamed resource and the state backend's own overrides before anything is
// opened, and the resolved name is used by apply, state, drift and outputs; a
// module disabled there makes an output from it a clear error; a state
// backend that cannot be opened is an error, never "no persistence".
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { treeHash } from "../helpers/files.js";

const CONFIG = `modules:
  - name: state
    type: iac.state
    config:
      backend: filesystem
      directory: .wfctl/state
    environments:
      staging:
        config:
          directory: .wfctl/staging-state
      broken:
        config:
          directory: not-a-directory

  - name: local
    type: iac.provider
    config: { provider: local, root: out }
    environments:
      staging: { config: { root: out-staging } }
      broken: { config: { root: out-broken } }

  - name: db
    type: local.file
    provider: local
    config: { path: db.conf, content: "base\\n" }
    environments:
      staging:
        name: db-staging
        config: { content: "staging\\n" }

  - name: cache
    type: local.file
    provider: local
    config: { path: cache.conf, content: "cache\\n" }
    environments:
      staging: null

outputs:
  db_path:
    source: db.absolute_path
  cache_path:
    source: cache.absolute_path
`;

describe("environments", () => {
  const sandbox = cliSandbox("wft-env-");
  let config: string;
  const run = (args: string[]) => sandbox.cli.run(args);
  const baseState = () => join(sandbox.dir, ".wfctl", "state");
  const stagingState = () => join(sandbox.dir, ".wfctl", "staging-state");

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    writeFileSync(join(sandbox.dir, "not-a-directory"), "a file where the broken environment wants its state directory\n");
  });

  it("--env staging: state lands under the staging path with the staging name; the base state is untouched", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const base = treeHash(baseState());
    expect(readdirSync(join(baseState(), "default", "resources")).sort()).toEqual(["cache.json", "db.json"]);

    expectExit(await run(["infra", "apply", "-c", config, "--env", "staging", "--auto-approve"]), 0);
    // The staging state path, the staging namespace, the staging name; the disabled module is not there.
    expect(readdirSync(join(stagingState(), "staging", "resources"))).toEqual(["db-staging.json"]);
    const record = JSON.parse(readFileSync(join(stagingState(), "staging", "resources", "db-staging.json"), "utf8")) as Record<string, unknown>;
    expect(JSON.stringify(record)).toContain("db-staging");
    expect(readFileSync(join(sandbox.dir, "out-staging", "db.conf"), "utf8")).toBe("staging\n");
    expect(existsSync(join(sandbox.dir, "out-staging", "cache.conf"))).toBe(false);
    // Nothing of staging went to the base state path.
    expect(treeHash(baseState())).toBe(base);
    expect(existsSync(join(baseState(), "staging"))).toBe(false);

    const { value } = await sandbox.cli.json<{ namespace: string; backend: string; resources: { name: string }[] }>(["infra", "state", "list", "-c", config, "--env", "staging"]);
    expect(value.namespace).toBe("staging");
    expect(value.backend).toContain("staging-state");
    expect(value.resources.map((r) => r.name)).toEqual(["db-staging"]);
    expectExit(await run(["infra", "plan", "-c", config, "--env", "staging", "--detailed-exitcode"]), 0);
  });

  it("drift and outputs use the resolved name", async () => {
    writeFileSync(join(sandbox.dir, "out-staging", "db.conf"), "changed by hand\n");
    const { value: drift } = await sandbox.cli.json<{ results: { name: string; class: string }[] }>(["infra", "drift", "-c", config, "--env", "staging"]);
    expect(drift.results).toEqual([expect.objectContaining({ name: "db-staging", class: "config" })]);

    const staging = await run(["infra", "outputs", "db_path", "-c", config, "--env", "staging"]);
    expectExit(staging, 0);
    expect(staging.stdout).toBe(`${join(sandbox.dir, "out-staging", "db.conf")}\n`);
    const base = await run(["infra", "outputs", "db_path", "-c", config]);
    expect(base.stdout).toBe(`${join(sandbox.dir, "out", "db.conf")}\n`);
  });

  it("an output whose source module is disabled in the environment is a clear error naming both", async () => {
    const result = await run(["infra", "outputs", "-c", config, "--env", "staging"]);
    expectExit(result, 1);
    expect(result.stderr).toContain(`${config}:`);
    expect(result.stderr).toContain('output "cache_path": its source module "cache" is disabled in environment "staging"');
    // Without the environment the same output is fine.
    expectExit(await run(["infra", "outputs", "cache_path", "-c", config]), 0);
  });

  it("a misspelt --env is refused as a usage error instead of planning everything anew in an empty namespace", async () => {
    const result = await run(["infra", "apply", "-c", config, "--env", "stagign", "--auto-approve"]);
    expectExit(result, 64);
    expect(result.stderr).toContain('--env "stagign"');
    expect(result.stderr).toContain("it mentions: broken, staging");
    expect(existsSync(join(stagingState(), "stagign"))).toBe(false);
    expect(existsSync(join(baseState(), "stagign"))).toBe(false);
  });

  it("a state backend that cannot be opened fails the command before any resource is touched", async () => {
    const result = await run(["infra", "apply", "-c", config, "--env", "broken", "--auto-approve"]);
    expectExit(result, 4);
    expect(result.stderr).toContain("not-a-directory");
    expect(existsSync(join(sandbox.dir, "out-broken"))).toBe(false);
    const plan = await run(["infra", "plan", "-c", config, "--env", "broken"]);
    expectExit(plan, 4);
  });
});
