// What depends on a ghost through the real CLI, daemon and local provider: a
// ghost plans as no change, and so does what refers to it, its references
// resolved from the ghost's record (still in state): no "(known after
// apply)" update on every plan, and a plain apply that changes nothing.
import { createHash } from "node:crypto";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";

/** `source` is a file; `copy` takes an output of it (known once applied), `label` a configuration field of it. */
const CONFIG = `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: source
    type: local.file
    provider: local
    config: { path: source.txt, content: "the source" }
  - name: copy
    type: local.file
    provider: local
    config:
      path: copy.txt
      content: "sha256 of \${source.path}: \${source.sha256}"
  - name: label
    type: local.file
    provider: local
    config: { path: "label-of-\${source.path}", content: "\${copy.absolute_path}" }
`;

interface PlanJson {
  changes: { name: string; action: string; ghost?: boolean; fields: { field: string; after?: unknown }[] }[];
}

describe("dependents of a ghost", () => {
  const sandbox = cliSandbox("wft-ghostdeps-");
  let config: string;
  const out = (file: string) => join(sandbox.dir, "out", file);

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
  });

  it("plan as no change: their references take the ghost's recorded values", async () => {
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const copied = readFileSync(out("copy.txt"), "utf8");
    expect(copied).toMatch(/^sha256 of source\.txt: [0-9a-f]{64}$/);
    rmSync(out("source.txt"));

    const { result, report } = await sandbox.cli.events<PlanJson>(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(result, 2); // the ghost is a difference
    const byName = Object.fromEntries(report.changes.map((c) => [c.name, c]));
    expect(byName["source"]).toMatchObject({ action: "noop", ghost: true });
    expect(byName["copy"], JSON.stringify(byName["copy"])).toMatchObject({ action: "noop", fields: [] });
    expect(byName["label"], JSON.stringify(byName["label"])).toMatchObject({ action: "noop", fields: [] });

    const text = await sandbox.cli.run(["infra", "plan", "-c", config]);
    expectExit(text, 0);
    expect(text.stdout).toContain("No changes planned, but state does not match what exists.");
    expect(text.stdout).not.toContain("(known after apply)");
  });

  it("a plain apply changes none of them, and the ghost warning stays", async () => {
    const before = { copy: statSync(out("copy.txt")).mtimeMs, label: statSync(out("label-of-source.txt")).mtimeMs };
    const { result, report } = await sandbox.cli.events<{ results: { name: string; action: string }[] }>(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(result, 0);
    expect(report.results).toEqual([]);
    expect({ copy: statSync(out("copy.txt")).mtimeMs, label: statSync(out("label-of-source.txt")).mtimeMs }).toEqual(before);

    const again = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(again, 0);
    expect(again.stdout).toMatch(/^\s+!\s+source\s+local\.file$/m);
    expect(again.stdout).not.toMatch(/updated|known after apply/);
  });

  it("apply --refresh re-creates the ghost, then updates what refers to it with the new values", async () => {
    writeFileSync(config, CONFIG.replace('content: "the source"', 'content: "the new source"'));
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--refresh", "--auto-approve"]), 0);
    expect(readFileSync(out("source.txt"), "utf8")).toBe("the new source");
    const sha = readFileSync(out("copy.txt"), "utf8").split(": ")[1];
    expect(sha).toBe(createHash("sha256").update("the new source").digest("hex"));
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });
});
