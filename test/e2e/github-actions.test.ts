// GitHub Actions through the real CLI (GITHUB_ACTIONS=true): every sensitive
// value is registered with ::add-mask:: before anything else is printed, and
// appears nowhere else; plans, applies and drift append Markdown tables to
// $GITHUB_STEP_SUMMARY (names and fields, never values); configuration errors
// become ::error file=…,line=…:: annotations; progress is one ::group::.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";

const config = (secret: string) => `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: notes
    type: local.file
    provider: local
    config: { path: notes.txt, content: "plain notes" }
  - name: secret
    type: local.sensitive_file
    provider: local
    config: { path: secret.txt, content: "${secret}" }
outputs:
  notes_path:
    source: notes.absolute_path
    sensitive: true
`;

const NOT_GHA = { GITHUB_ACTIONS: "", GITHUB_STEP_SUMMARY: "", CI: "true" };

describe("GitHub Actions", () => {
  const sandbox = cliSandbox("wft-gha-");
  let file: string;
  let summary: string;
  const first = `first-${randomBytes(8).toString("hex")}`;
  const second = `second-${randomBytes(8).toString("hex")}`;
  const gha = () => ({ GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: summary, CI: "true", GITHUB_WORKSPACE: "" });

  beforeAll(async () => {
    file = join(sandbox.dir, "infra.yaml");
    summary = join(sandbox.dir, "step-summary.md");
    writeFileSync(file, config(first));
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", file, "--auto-approve"], { env: NOT_GHA }), 0);
  });

  /** Every line of both streams that holds `value` is an ::add-mask:: line, and each such line comes before any other output. */
  const expectOnlyMasked = (result: CliResult, value: string) => {
    expect(result.stdout).not.toContain(value);
    const lines = result.stderr.split("\n");
    const holding = lines.filter((line) => line.includes(value));
    expect(holding.length).toBeGreaterThan(0);
    for (const line of holding) expect(line).toBe(`::add-mask::${value}`);
    const lastMask = lines.map((l) => l.startsWith("::add-mask::")).lastIndexOf(true);
    const firstOther = lines.findIndex((l) => l !== "" && !l.startsWith("::add-mask::"));
    expect(lastMask).toBeLessThan(firstOther);
  };

  it("a plan masks every sensitive value first, prints none, and appends a Markdown table to the step summary", async () => {
    writeFileSync(file, config(second));
    rmSync(summary, { force: true });
    const result = await sandbox.cli.run(["infra", "plan", "-c", file, "--detailed-exitcode"], { env: gha() });
    expectExit(result, 2);
    expectOnlyMasked(result, second);
    const notesPath = join(sandbox.dir, "out", "notes.txt");
    expectOnlyMasked(result, notesPath);
    expect(result.stderr).toMatch(/^::group::wfctl plan: progress$/m);
    expect(result.stderr).toMatch(/^::endgroup::$/m);
    const markdown = readFileSync(summary, "utf8");
    expect(markdown).toContain("### wfctl plan");
    expect(markdown).toContain("**0 to add, 1 to change, 0 to replace, 0 to destroy** (1 unchanged)");
    expect(markdown).toMatch(/\| ✏️ \| update \| `secret` \| local\.sensitive_file \| content \|/);
    for (const value of [first, second, notesPath]) expect(markdown).not.toContain(value);
  });

  it("an apply masks, then appends the plan and each change's outcome to the summary", async () => {
    rmSync(summary, { force: true });
    const result = await sandbox.cli.run(["infra", "apply", "-c", file, "--auto-approve"], { env: gha() });
    expectExit(result, 0);
    expectOnlyMasked(result, second);
    const markdown = readFileSync(summary, "utf8");
    expect(markdown).toContain("### wfctl apply");
    expect(markdown).toContain("**Complete:** 1 change(s).");
    expect(markdown).toMatch(/\| `secret` \| local\.sensitive_file \| update \| ✅ succeeded \| \d+\.\ds \|/);
    expect(markdown).not.toContain(second);
  });

  it("drift appends its own table: a deleted file is a ghost", async () => {
    rmSync(summary, { force: true });
    rmSync(join(sandbox.dir, "out", "notes.txt"));
    const result = await sandbox.cli.run(["infra", "drift", "-c", file, "--detailed-exitcode"], { env: gha() });
    expectExit(result, 2);
    const markdown = readFileSync(summary, "utf8");
    expect(markdown).toContain("### wfctl drift");
    expect(markdown).toMatch(/\| 👻 ghost \| `notes` \| local\.file \|/);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", file, "--auto-approve", "--refresh"], { env: NOT_GHA }), 0);
  });

  it("configuration errors are ::error annotations on their file and line", async () => {
    const escaped = (path: string) => path.replaceAll("/", "\\/").replaceAll(".", "\\.");
    const bad = join(sandbox.dir, "bad.yaml");
    writeFileSync(bad, "modules:\n  - name: x\n    type: local.file\n    provider: local\n    config: { path: a.txt }\n    colour: blue\n");
    const unknownKey = await sandbox.cli.run(["infra", "plan", "-c", bad], { env: gha() });
    expectExit(unknownKey, 1);
    expect(unknownKey.stderr).toMatch(new RegExp(`^::error file=${escaped(bad)},line=2,col=5,title=wfctl::module "x": unknown key\\(s\\) "colour"$`, "m"));
    const wrongType = join(sandbox.dir, "wrong-type.yaml");
    writeFileSync(wrongType, "modules:\n  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n  - name: x\n    type: local.file\n    provider: local\n    config: { path: a.txt, mode: 5 }\n");
    const schema = await sandbox.cli.run(["infra", "plan", "-c", wrongType], { env: gha() });
    expectExit(schema, 1);
    expect(schema.stderr).toMatch(new RegExp(`^::error file=${escaped(wrongType)},line=8,col=\\d+,title=wfctl::module "x", field "config\\.mode": must be a string`, "m"));
  });

  it("an annotation names its file relative to GITHUB_WORKSPACE (GitHub resolves it there), absolute outside the workspace", async () => {
    const dir = join(sandbox.dir, "stacks", "web");
    mkdirSync(dir, { recursive: true });
    const bad = join(dir, "infra.yaml");
    writeFileSync(bad, "modules:\n  - name: x\n    type: local.file\n    provider: local\n    config: { path: a.txt }\n    colour: blue\n");
    const inWorkspace = await sandbox.cli.run(["infra", "plan", "-c", bad], { env: { ...gha(), GITHUB_WORKSPACE: sandbox.dir } });
    expectExit(inWorkspace, 1);
    expect(inWorkspace.stderr).toMatch(/^::error file=stacks\/web\/infra\.yaml,line=2,col=5,title=wfctl::module "x": unknown key\(s\) "colour"$/m);
    const outside = await sandbox.cli.run(["infra", "plan", "-c", bad], { env: { ...gha(), GITHUB_WORKSPACE: join(sandbox.dir, "stacks", "api") } });
    expectExit(outside, 1);
    expect(outside.stderr).toContain(`::error file=${bad},line=2,col=5,title=wfctl::`);
  });
});
