// local.file and local.directory stay under their provider root (issue 17,
// item 9): the containment check was lexical only, so `out/link ->
// /elsewhere` with `path: link/x` wrote outside the root, and `../x` was
// refused only at apply. Through the real CLI, daemon and provider plugin:
// both are refused at plan, naming the resource and the path; a symlink
// planted between plan and apply (by a fixture plugin applied first, so the
// timing is exact) is refused as the file is written; a symlink planted under
// an applied resource is never read or deleted through, nor is a root swapped
// for a symlink between commands. Nothing is ever written outside.
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";

/** A configuration of the local provider (root: out) and the given resource modules. */
const stack = (resources: string) => `modules:\n  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n${resources}`;
const file = (name: string, path: string, extra = "") => `  - name: ${name}\n    type: local.file\n    provider: local\n${extra}    config: { path: "${path}", content: "written by wfctl" }\n`;

/** The last line of a --json run: its error. */
const errorOf = (stdout: string) => (JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { error?: { code: string; message: string } }).error;

describe("local provider containment", () => {
  const sandbox = cliSandbox("wft-contain-");
  /** A directory outside every root, which must stay empty. */
  let elsewhere: string;
  const project = (name: string, config: string): { dir: string; config: string } => {
    const dir = join(sandbox.dir, name);
    mkdirSync(join(dir, "out"), { recursive: true });
    writeFileSync(join(dir, "infra.yaml"), config);
    return { dir, config: join(dir, "infra.yaml") };
  };
  const recorded = async (config: string) => {
    const { value } = await sandbox.cli.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config]);
    return value.resources.map((r) => r.name);
  };

  beforeAll(() => {
    elsewhere = join(sandbox.dir, "elsewhere");
    mkdirSync(elsewhere);
  });

  it("refuses path: link/x at plan when out/link leads outside the root, and apply writes nothing there", async () => {
    const p = project("link", stack(file("page", "link/x") + "  - name: dir\n    type: local.directory\n    provider: local\n    config: { path: link/d }\n"));
    symlinkSync(elsewhere, join(p.dir, "out", "link"));
    const plan = await sandbox.cli.run(["infra", "plan", "-c", p.config]);
    expectExit(plan, 1);
    expect(plan.stderr).toContain(`page (local.file): path "link/x" leads outside the provider root ${join(p.dir, "out")}: "link" resolves to ${elsewhere}`);
    expect(plan.stdout).not.toContain("wfctl will perform these actions");
    const json = await sandbox.cli.run(["infra", "plan", "-c", p.config, "--json"]);
    expectExit(json, 1);
    expect(errorOf(json.stdout)?.code).toBe("PERMISSION_DENIED");
    const apply = await sandbox.cli.run(["infra", "apply", "-c", p.config, "--auto-approve"]);
    expectExit(apply, 1);
    expect(apply.stderr).toContain('path "link/');
    expect(apply.stderr).toContain("leads outside the provider root");
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(await recorded(p.config)).toEqual([]);
  });

  it("refuses ../ at plan, naming the resource and the path, and creates nothing", async () => {
    const p = project("dotdot", stack(file("page", "../x")));
    const plan = await sandbox.cli.run(["infra", "plan", "-c", p.config]);
    expectExit(plan, 1);
    expect(plan.stderr).toContain(`page (local.file): field "path" "../x" points outside the provider root ${join(p.dir, "out")}`);
    const json = await sandbox.cli.run(["infra", "plan", "-c", p.config, "--json"]);
    expect(errorOf(json.stdout)?.code).toBe("CONFIG_INVALID");
    expect(existsSync(join(p.dir, "x"))).toBe(false);
    expect(await recorded(p.config)).toEqual([]);
  });

  it("a symlink swapped in between plan and apply is refused as the file is written: nothing outside, no record", async () => {
    const p = project(
      "swap",
      stack(
        `  - name: swapper\n    type: iac.provider\n    config: { provider: symlink-swap }\n` +
          `  - name: swap\n    type: swap.symlink\n    provider: swapper\n    config: { path: out/sub, target: "${elsewhere}" }\n` +
          file("page", "sub/x", "    depends_on: [swap]\n"),
      ),
    );
    writeFileSync(join(p.dir, "swap-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "symlink-swap.mjs"))};\n`);
    writeFileSync(join(p.dir, "wfctl.yaml"), "plugins:\n  - name: symlink-swap\n    kind: provider\n    source: ./swap-plugin.mjs\n    version: 1.0.0\n");
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", p.config]), 0);
    mkdirSync(join(p.dir, "out", "sub"));
    // At plan, out/sub is a real directory under the root: the path is fine.
    const { result: plan, report } = await sandbox.cli.events<{ changes: { name: string; action: string }[] }>(["infra", "plan", "-c", p.config]);
    expectExit(plan, 0);
    expect(report.changes.map((c) => [c.name, c.action])).toEqual([
      ["swap", "create"],
      ["page", "create"],
    ]);
    // Apply plans again (still fine), creates swap (out/sub becomes a symlink to elsewhere), then writes page.
    const apply = await sandbox.cli.run(["infra", "apply", "-c", p.config, "--auto-approve"]);
    expectExit(apply, 1);
    expect(lstatSync(join(p.dir, "out", "sub")).isSymbolicLink()).toBe(true);
    expect(`${apply.stdout}${apply.stderr}`).toContain(`page (local.file): path "sub/x" leads outside the provider root ${join(p.dir, "out")}: "sub" resolves to ${elsewhere}`);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(await recorded(p.config)).toEqual(["swap"]);
  });

  it("a root swapped for a symlink between two commands of the warm daemon is never read through", async () => {
    const p = project("root-swapped", stack(file("top", "top.txt")));
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", p.config, "--auto-approve"]), 0);
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", p.config, "--detailed-exitcode"]), 0);
    // The plugin stays configured with the root it resolved; its name now leads to someone else's directory.
    const theirs = join(sandbox.dir, "theirs-root");
    mkdirSync(theirs);
    writeFileSync(join(theirs, "top.txt"), "their private text");
    renameSync(join(p.dir, "out"), join(p.dir, "out-moved"));
    symlinkSync(theirs, join(p.dir, "out"));
    const plan = await sandbox.cli.run(["infra", "plan", "-c", p.config]);
    expectExit(plan, 1);
    expect(plan.stderr).toContain(`top (local.file): path "top.txt" leads outside the provider root ${join(p.dir, "out")}: it resolves to ${join(theirs, "top.txt")}`);
    expect(`${plan.stdout}${plan.stderr}`).not.toContain("their private text");
  });

  it("a symlink planted under an applied file is never read or deleted through", async () => {
    const p = project("planted", stack(file("kept", "keep/y.txt")));
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", p.config, "--auto-approve"]), 0);
    // Someone moves the directory away and points its name at a directory of theirs, holding a file of the same name.
    const theirs = join(sandbox.dir, "theirs");
    mkdirSync(theirs);
    writeFileSync(join(theirs, "y.txt"), "their private text");
    renameSync(join(p.dir, "out", "keep"), join(p.dir, "out", "keep-moved"));
    symlinkSync(theirs, join(p.dir, "out", "keep"));
    const plan = await sandbox.cli.run(["infra", "plan", "-c", p.config]);
    expectExit(plan, 1);
    expect(plan.stderr).toContain(`kept (local.file): path "keep/y.txt" leads outside the provider root ${join(p.dir, "out")}: "keep" resolves to ${theirs}`);
    expect(`${plan.stdout}${plan.stderr}`).not.toContain("their private text");
    const destroy = await sandbox.cli.run(["infra", "destroy", "-c", p.config, "--auto-approve"]);
    expectExit(destroy, 1);
    expect(`${destroy.stdout}${destroy.stderr}`).toContain("leads outside the provider root");
    expect(readFileSync(join(theirs, "y.txt"), "utf8")).toBe("their private text");
    expect(await recorded(p.config)).toEqual(["kept"]);
  });
});
