// The state backend is never a guess, through the real CLI: with the state
// backend set only for staging, every command without --env exits non-zero
// before touching anything, naming staging (the seed's outage: a CI runner
// falling back to a fresh local state and re-creating everything); with
// --env staging, plan, apply, destroy and drift say which backend and
// namespace they use (a header on stderr, fields in --json), and plan's
// stdout stays the plan alone.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";

const CONFIG =
  "modules:\n" +
  "  - name: state\n    type: iac.state\n    environments:\n      staging:\n        config: { backend: filesystem, directory: staging-state }\n" +
  "  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n" +
  "  - name: page\n    type: local.file\n    provider: local\n    config: { path: page.txt, content: hi }\n";

describe("where state lives", () => {
  const sandbox = cliSandbox("wft-where-");

  it("without --env, a staging-only state configuration exits non-zero before touching anything, naming staging", async () => {
    const dir = join(sandbox.dir, "guess");
    mkdirSync(dir, { recursive: true });
    const config = join(dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    for (const command of [["infra", "plan"], ["infra", "apply", "--auto-approve"], ["infra", "destroy", "--auto-approve"], ["infra", "drift"], ["infra", "state", "list"]]) {
      const result = await sandbox.cli.run([...command, "-c", config]);
      expectExit(result, 1);
      expect(result.stderr).toContain(`${config}:2:5: module "state": field "config.backend": the state backend is set only for environment "staging"; without --env`);
      expect(result.stderr).toContain("Run with --env staging");
    }
    const { value } = await sandbox.cli.json<{ error: { code: string; details: { file: string; line: number }[] } }>(["infra", "state", "list", "-c", config]);
    expect(value.error.code).toBe("CONFIG_INVALID");
    expect(value.error.details[0]).toMatchObject({ file: config, line: 2 });
    expect(readdirSync(dir)).toEqual(["infra.yaml"]);
  });

  it("with --env staging, plan, apply, destroy and drift name the backend and namespace (stderr header, --json fields)", async () => {
    const dir = join(sandbox.dir, "staging");
    mkdirSync(dir, { recursive: true });
    const config = join(dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    const args = ["-c", config, "--env", "staging"];
    const header = `State: filesystem (${join(dir, "staging-state", "staging")}), namespace staging\n`;

    const plan = await sandbox.cli.run(["infra", "plan", ...args]);
    expectExit(plan, 0);
    expect(plan.stderr).toContain(header);
    expect(plan.stdout).not.toContain("State:");
    expect(plan.stdout).toMatch(/^wfctl will perform these actions \(environment: staging\):/);
    const { report } = await sandbox.cli.events<{ backend: string; namespace: string }>(["infra", "plan", ...args]);
    expect(report).toMatchObject({ backend: `filesystem (${join(dir, "staging-state", "staging")})`, namespace: "staging" });

    const apply = await sandbox.cli.run(["infra", "apply", ...args, "--auto-approve"]);
    expectExit(apply, 0);
    expect(apply.stderr).toContain(header);
    expect(existsSync(join(dir, "out", "page.txt"))).toBe(true);

    const drift = await sandbox.cli.run(["infra", "drift", ...args]);
    expectExit(drift, 0);
    expect(drift.stderr).toContain(header);
    const { value: driftJson } = await sandbox.cli.json<{ backend: string; namespace: string }>(["infra", "drift", ...args]);
    expect(driftJson).toMatchObject({ backend: expect.stringContaining("staging-state") as string, namespace: "staging" });

    const destroy = await sandbox.cli.events<{ backend: string; namespace: string; plan: { backend: string }; warnings: string[] }>(["infra", "destroy", ...args, "--auto-approve"]);
    expectExit(destroy.result, 0);
    expect(destroy.report).toMatchObject({ namespace: "staging", warnings: [] });
    expect(destroy.report.backend).toBe(destroy.report.plan.backend);
    expect(existsSync(join(dir, "out", "page.txt"))).toBe(false);
  });
});
