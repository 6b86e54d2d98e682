// Saved plans through the real CLI, daemon and local provider (issue 19,
// acceptance 3): `plan --out FILE` writes a private file with no sensitive
// value in it, `show FILE` prints it as plan does, `apply FILE` applies
// exactly its changes without asking; a plan made stale (the same plan
// applied twice, a resource edited out of band, the configuration edited)
// is refused with PLAN_STALE naming what changed, exit 1, with state and
// files exactly as before.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { siteStack } from "../helpers/stacks.js";
import { treeHash } from "../helpers/files.js";

/** The sensitive file's content: it may be on disk and nowhere else (plan file, output). */
const SECRET = "s3cret-9f1b4c-never-in-a-plan-file";

const config = (index: string, robots = "User-agent: *") =>
  siteStack({
    index,
    robots,
    extra: `  - name: key
    type: local.sensitive_file
    provider: local
    config: { path: key.txt, content: "${SECRET}" }
`,
  });

/** The error a --json command ended with (its last line). */
function errorOf(result: CliResult): { code: string; message: string } {
  const last = result.stdout.trim().split("\n").at(-1) ?? "";
  const parsed = JSON.parse(last) as { error?: { code: string; message: string } };
  if (!parsed.error) throw new Error(`no error line at the end of:\n${result.stdout}\n${result.stderr}`);
  return parsed.error;
}

describe("saved plans: plan --out, show, apply FILE", () => {
  const sandbox = cliSandbox("wft-saved-");
  let infra: string;
  let out: string;
  const run = (args: string[]) => sandbox.cli.run(args, { env: { CI: "true", GITHUB_ACTIONS: "" } });
  const file = (name: string) => join(sandbox.dir, name);
  /** State as listed (records with their update times) and the managed files, byte for byte. */
  const snapshot = async () => ({ state: (await run(["infra", "state", "list", "-c", infra, "--json"])).stdout, files: treeHash(out) });

  beforeAll(() => {
    infra = file("infra.yaml");
    out = file("out");
    writeFileSync(infra, config("hello"));
  });

  it("plan --out writes the plan to a file only its owner can read, holding no sensitive value, and says how to apply it", async () => {
    const plan = await run(["infra", "plan", "-c", infra, "--out", file("first.plan")]);
    expectExit(plan, 0);
    expect(plan.stdout).toContain("Plan: 4 to create");
    expect(plan.stderr).toContain(`wfctl infra apply ${file("first.plan")}`);
    expect(statSync(file("first.plan")).mode & 0o777).toBe(0o600);
    const saved = readFileSync(file("first.plan"), "utf8");
    expect(saved).not.toContain(SECRET);
    expect(saved).not.toContain("never-in-a-plan-file");
    expect(plan.stdout + plan.stderr).not.toContain(SECRET);
    // What it records: where, for what, and the sensitive value only sealed.
    const doc = JSON.parse(saved) as { format: string; target: { config_path: string; env: string }; checks: { configuration: { sealed: Record<string, unknown> } } };
    expect(doc.format).toBe("wfctl-saved-plan");
    expect(doc.target).toEqual({ config_path: infra, env: "" });
    expect(Object.values(doc.checks.configuration.sealed)).toEqual([{ $wfctl_sealed: expect.stringMatching(/^scrypt\$/) }]);
    expect(existsSync(join(out, "site"))).toBe(false);
  });

  it("show FILE prints the saved plan as plan printed it, and --json as plan --json, without a daemon", async () => {
    const plan = await run(["infra", "plan", "-c", infra]);
    // No daemon at this socket: show reads only the file.
    const show = await sandbox.cli.run(["infra", "show", file("first.plan")], { env: { WFCTL_SOCKET: file("no-daemon-here.sock") } });
    expectExit(show, 0);
    expect(show.stdout).toContain(`Saved plan ${file("first.plan")}: made `);
    expect(show.stdout.endsWith(plan.stdout)).toBe(true);
    const json = await sandbox.cli.json<{ config: string; changes: { name: string; action: string }[] }>(["infra", "show", file("first.plan")]);
    expectExit(json.result, 0);
    expect(json.value.config).toBe(infra);
    expect(json.value.changes.map((c) => [c.name, c.action])).toEqual([["site", "create"], ["index", "create"], ["robots", "create"], ["key", "create"]]);
  });

  it("apply FILE applies exactly the planned changes, without asking (no terminal, no --auto-approve)", async () => {
    const apply = await run(["infra", "apply", file("first.plan")]);
    expectExit(apply, 0);
    expect(apply.stdout).toContain("Apply complete: 4 created, 0 updated, 0 replaced, 0 deleted.");
    expect(apply.stdout + apply.stderr).not.toContain(SECRET);
    expect(readFileSync(join(out, "site", "index.html"), "utf8")).toBe("hello");
    expect(readFileSync(join(out, "site", "robots.txt"), "utf8")).toBe("User-agent: *");
    expect(readFileSync(join(out, "key.txt"), "utf8")).toBe(SECRET);
    const listed = JSON.parse((await run(["infra", "state", "list", "-c", infra, "--json"])).stdout) as { resources: { name: string }[] };
    expect(listed.resources.map((r) => r.name).sort()).toEqual(["index", "key", "robots", "site"]);
  });

  it("the same plan applied again is stale (state records it did not know): PLAN_STALE, exit 1, nothing changed", async () => {
    const before = await snapshot();
    const again = await sandbox.cli.run(["infra", "apply", file("first.plan"), "--json"]);
    expectExit(again, 1);
    const error = errorOf(again);
    expect(error.code).toBe("PLAN_STALE");
    expect(error.message).toContain(`"site" has a state record now`);
    expect(error.message).toContain("Nothing was changed");
    expect(await snapshot()).toEqual(before);
  });

  it("a resource edited out of band between plan and apply: PLAN_STALE naming it, exit 1, state and files as before", async () => {
    writeFileSync(infra, config("hello, v2"));
    expectExit(await run(["infra", "plan", "-c", infra, "--out", file("update.plan")]), 0);
    writeFileSync(join(out, "site", "index.html"), "edited by hand");
    const before = await snapshot();
    const apply = await sandbox.cli.run(["infra", "apply", file("update.plan"), "--json"]);
    expectExit(apply, 1);
    const error = errorOf(apply);
    expect(error.code).toBe("PLAN_STALE");
    expect(error.message).toContain(`"index" (local.file) changed since the plan`);
    expect(error.message).not.toContain("robots");
    expect(await snapshot()).toEqual(before);
    expect(readFileSync(join(out, "site", "index.html"), "utf8")).toBe("edited by hand");
  });

  it("the configuration edited between plan and apply: PLAN_STALE naming the configuration, nothing changed", async () => {
    expectExit(await run(["infra", "plan", "-c", infra, "--out", file("config.plan")]), 0);
    writeFileSync(infra, config("hello, v2", "User-agent: none"));
    const before = await snapshot();
    const apply = await run(["infra", "apply", file("config.plan")]);
    expectExit(apply, 1);
    expect(apply.stderr).toContain(`the saved plan is stale: the configuration changed (${infra}: digest `);
    expect(await snapshot()).toEqual(before);
    // Planned again, the same edit applies.
    expectExit(await run(["infra", "plan", "-c", infra, "--out", file("config.plan")]), 0);
    const fresh = await run(["infra", "apply", file("config.plan")]);
    expectExit(fresh, 0);
    expect(fresh.stdout).toContain("Apply complete: 0 created, 2 updated");
    expect(readFileSync(join(out, "site", "robots.txt"), "utf8")).toBe("User-agent: none");
    expect(readFileSync(join(out, "site", "index.html"), "utf8")).toBe("hello, v2");
  });

  it("a plan file decides its own targets, replacements and variables: those flags with it are usage errors; a file that is no plan is named", async () => {
    expectExit(await run(["infra", "plan", "-c", infra, "--out", file("last.plan")]), 0);
    for (const flags of [["--target", "index"], ["--replace", "index"], ["--var", "tag=1"], ["--refresh"]]) {
      const refused = await run(["infra", "apply", file("last.plan"), ...flags]);
      expectExit(refused, 64);
      expect(refused.stderr).toContain(`${flags[0]} cannot be used with a saved plan`);
    }
    const notAPlan = await run(["infra", "apply", infra]);
    expectExit(notAPlan, 64);
    expect(notAPlan.stderr).toContain(`${infra} is not a wfctl saved plan`);
    const missing = await run(["infra", "show", file("nope.plan")]);
    expectExit(missing, 1);
    expect(missing.stderr).toContain(`cannot read the saved plan ${file("nope.plan")}`);
  });

  it("a saved destroy plan (plan --destroy --out) destroys what it planned", async () => {
    expectExit(await run(["infra", "plan", "-c", infra, "--destroy", "--out", file("destroy.plan")]), 0);
    const destroy = await run(["infra", "apply", file("destroy.plan")]);
    expectExit(destroy, 0);
    expect(destroy.stdout).toContain("Plan: 4 to destroy.");
    expect(existsSync(join(out, "site"))).toBe(false);
    expect(existsSync(join(out, "key.txt"))).toBe(false);
    const listed = JSON.parse((await run(["infra", "state", "list", "-c", infra, "--json"])).stdout) as { resources: unknown[] };
    expect(listed.resources).toEqual([]);
  });
});
