// A malformed infra.yaml, through the real CLI and daemon: every error names
// the file and the module, and the exit code is 1. Acceptance check 9.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliSandbox } from "../helpers/cli.js";
import { QUICKSTART } from "../helpers/paths.js";

const quickstart = readFileSync(join(QUICKSTART, "infra.yaml"), "utf8");

/** The quickstart with one edit; fails loudly if the edit no longer applies. */
function edited(from: string, to: string): string {
  if (!quickstart.includes(from)) throw new Error(`the quickstart no longer contains ${JSON.stringify(from)}`);
  return quickstart.replace(from, to);
}

const cases: { what: string; text: string; module: string; mentions: string[] }[] = [
  {
    what: "an unknown module type",
    text: edited("    type: local.directory\n", "    type: local.directroy\n"),
    module: "site",
    mentions: [`unknown resource type "local.directroy"`, "local.directory, local.file"],
  },
  {
    what: "a resource without a provider",
    text: edited("    type: local.directory\n    provider: local\n", "    type: local.directory\n"),
    module: "site",
    mentions: ["provider"],
  },
  {
    what: "a provider that does not exist",
    text: edited("    type: local.directory\n    provider: local\n", "    type: local.directory\n    provider: remote\n"),
    module: "site",
    mentions: ['"remote"'],
  },
  {
    what: "a dependency cycle",
    text: edited("    config:\n      path: site\n", "    depends_on: [index]\n    config:\n      path: site\n"),
    module: "site",
    mentions: ["cycle", "index"],
  },
  {
    what: "a YAML syntax error",
    text: edited("      path: site/robots.txt\n", "      path: [site/robots.txt\n"),
    module: "robots",
    mentions: ["YAML syntax error"],
  },
  {
    what: "a field the resource type does not have",
    text: edited("      path: site/robots.txt\n", "      path: site/robots.txt\n      colour: red\n"),
    module: "robots",
    mentions: [`field "config.colour"`, "known fields: path, content, mode"],
  },
];

describe("malformed infra.yaml through the CLI", () => {
  const sandbox = cliSandbox("wft-cfg-");

  for (const c of cases) {
    it(`${c.what}: names the file and the module, exit 1`, async () => {
      const file = join(sandbox.dir, `${c.what.replace(/\W+/g, "-")}.yaml`);
      writeFileSync(file, c.text);
      const result = await sandbox.cli.run(["infra", "plan", "-c", file]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+`));
      expect(result.stderr).toContain(`module "${c.module}"`);
      for (const m of c.mentions) expect(result.stderr).toContain(m);
    });
  }

  it("a missing file names the file", async () => {
    const file = join(sandbox.dir, "nope", "infra.yaml");
    const result = await sandbox.cli.run(["infra", "plan", "-c", file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(file);
  });

  it("the same errors without a daemon", async () => {
    const c = cases[0] as (typeof cases)[number];
    const file = join(sandbox.dir, "no-daemon.yaml");
    writeFileSync(file, c.text);
    const result = await sandbox.cli.run(["infra", "plan", "-c", file, "--no-daemon"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`module "${c.module}"`);
    expect(result.stderr).toContain(file);
  });
});
