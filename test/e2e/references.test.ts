// References between resources through the real CLI: ${module.field} takes a
// configuration field at plan time, an output once it is applied (shown as
// "(known after apply)" until then); resources are ordered by them; bad
// references are refused naming the file, the module and the field.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";

const CONFIG = `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }

  - name: site
    type: local.directory
    provider: local
    config: { path: site, force_destroy: true }

  # path: a configuration field of site, known at plan time.
  # content: an output of site, known once site is applied.
  - name: index
    type: local.file
    provider: local
    config:
      path: "\${site.path}/index.html"
      content: "served from \${site.absolute_path}; literal $\${kept}"
`;

describe("references", () => {
  const sandbox = cliSandbox("wft-refs-");
  let config: string;
  const run = (args: string[]) => sandbox.cli.run(args);

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
  });

  it("plans a configuration field's value, and an output not yet applied as (known after apply)", async () => {
    const { report: value } = await sandbox.cli.events<{ changes: { name: string; action: string; fields: { field: string; after?: unknown }[] }[] }>(["infra", "plan", "-c", config]);
    const index = value.changes.find((c) => c.name === "index");
    expect(index?.action).toBe("create");
    expect(index?.fields.find((f) => f.field === "path")?.after).toBe("site/index.html");
    expect(index?.fields.find((f) => f.field === "content")?.after).toBe("(known after apply)");
  });

  it("applies in reference order with the values resolved, then plans no change", async () => {
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const site = join(sandbox.dir, "out", "site");
    expect(readFileSync(join(site, "index.html"), "utf8")).toBe(`served from ${site}; literal \${kept}`);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("a changed target replans what refers to it", async () => {
    writeFileSync(config, CONFIG.replace("config: { path: site, force_destroy: true }", "config: { path: www, force_destroy: true }"));
    const plan = await run(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(plan, 2);
    expect(plan.stdout).toMatch(/-\/\+\s+site\s+local\.directory/);
    expect(plan.stdout).toMatch(/-\/\+\s+index\s+local\.file/);
    expect(plan.stdout).toContain("(known after apply)");
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const www = join(sandbox.dir, "out", "www");
    expect(readFileSync(join(www, "index.html"), "utf8")).toBe(`served from ${www}; literal \${kept}`);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });

  it("refuses bad references before anything runs, naming the file, module and field", async () => {
    const bad = join(sandbox.dir, "bad.yaml");
    const cases: [string, string][] = [
      ['"${nosuch.path}/x"', "must be ${module.field}, naming a resource module"],
      ['"${local.root}/x"', "names a module of type iac.provider; references name resource modules"],
      ['"${index.path}"', "refers to the module itself"],
      ['"${site}"', "must be ${module.field}"],
    ];
    for (const [path, message] of cases) {
      writeFileSync(bad, CONFIG.replace('path: "${site.path}/index.html"', `path: ${path}`));
      const result = await run(["infra", "plan", "-c", bad]);
      expectExit(result, 1);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toMatch(/bad\.yaml:\d+:\d+/);
      expect(result.stderr).toContain("config.path");
    }
  });

  it("a reference cycle is refused, naming it", async () => {
    const cyclic = join(sandbox.dir, "cyclic.yaml");
    writeFileSync(cyclic, CONFIG.replace("config: { path: site, force_destroy: true }", 'config: { path: "${index.content}" }'));
    const result = await run(["infra", "plan", "-c", cyclic]);
    expectExit(result, 1);
    expect(result.stderr).toMatch(/dependency cycle: (site → index → site|index → site → index)/);
  });

  it("a referenced value of the wrong type is refused once resolved, naming the field", async () => {
    const typed = join(sandbox.dir, "typed.yaml");
    writeFileSync(typed, CONFIG.replace('content: "served from ${site.absolute_path}; literal $${kept}"', 'content: "${site.force_destroy}"'));
    const result = await run(["infra", "plan", "-c", typed]);
    expectExit(result, 1);
    expect(result.stderr).toContain("config.content");
    expect(result.stderr).toContain("after resolving references");
  });

  it("a sensitive configuration field cannot be referenced: state keeps it sealed", async () => {
    const sealed = join(sandbox.dir, "sealed.yaml");
    writeFileSync(
      sealed,
      `${CONFIG}\n  - name: token\n    type: local.sensitive_file\n    provider: local\n    config: { path: token.txt, content: "tok-SECRET" }\n\n  - name: copy\n    type: local.file\n    provider: local\n    config: { path: copy.txt, content: "\${token.content}" }\n`,
    );
    const result = await run(["infra", "plan", "-c", sealed]);
    expectExit(result, 1);
    expect(result.stderr).toContain('module "copy": reference ${token.content}: field "content" of "token" is sensitive configuration');
    expect(result.stdout + result.stderr).not.toContain("tok-SECRET");
  });
});
