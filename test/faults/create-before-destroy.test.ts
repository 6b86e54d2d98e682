// Ctrl-C between the create and the delete of a create_before_destroy
// replace, through the real CLI, a warm daemon and the slowfs fixture (whose
// update of `user` waits while a hold file exists, so the apply is stopped
// at that point and no other): state describes both objects, the new one
// under the resource's name and the old one as a deposed record; the next
// plan deletes the deposed one, after what depends on the resource is
// pointed to the new one; and the next apply finishes the job.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";
import { waitFor } from "../helpers/processes.js";
import { runInBackground } from "../helpers/terminal.js";

/** `target` (create_before_destroy) at `path`; `user` holds the path of target's file, so it is updated when target is replaced. */
function stack(path: string): string {
  return `modules:
  - name: slow
    type: iac.provider
    config: { provider: slowfs, root: out }
  - name: target
    type: slowfs.file
    provider: slow
    create_before_destroy: true
    config: { path: ${path}, content: "the target" }
  - name: user
    type: slowfs.file
    provider: slow
    config: { path: user.txt, content: "uses \${target.path}" }
`;
}

interface Listed {
  name: string;
  status: string;
  provider_id: string;
}

describe("create_before_destroy interrupted", () => {
  const sandbox = cliSandbox("wft-cbd-");
  const out = (file: string) => join(sandbox.dir, "out", file);

  it("Ctrl-C after the new one is created and before the old one is deleted: state records both; the next apply deletes the old one", async () => {
    const config = join(sandbox.dir, "infra.yaml");
    writeFileSync(join(sandbox.dir, "slowfs-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))};\n`);
    writeFileSync(join(sandbox.dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./slowfs-plugin.mjs\n    version: 2.0.0\n");
    writeFileSync(config, stack("one.txt"));
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", config]), 0);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    expect(readFileSync(out("user.txt"), "utf8")).toBe("uses one.txt");

    writeFileSync(config, stack("two.txt"));
    writeFileSync(out(".hold-user"), "");
    const apply = runInBackground(["infra", "apply", "-c", config, "--auto-approve", "--json"], { WFCTL_SOCKET: sandbox.cli.socket });
    let exited = false;
    const exit = apply.exit.then((code) => ((exited = true), code));
    // user's update starts only once target's new object exists; its provider call then waits on the hold file.
    try {
      const userStarted = /"type":"resource_start"[^\n]*"name":"user"/;
      await waitFor(() => exited || userStarted.test(apply.output.stdout), 30_000, "user's update to start");
      expect(exited, apply.output.stdout + apply.output.stderr).toBe(false);
      expect(apply.output.stdout).toMatch(/"type":"resource_finish"[^\n]*"name":"target"[^\n]*"detail":"create"/);
      apply.signal("SIGINT");
      expect(await exit, apply.output.stderr).toBe(130);
    } finally {
      rmSync(out(".hold-user"), { force: true });
      await exit;
    }

    // Both objects exist, and state records both: the new one as target, the old one as a deposed record of it.
    expect(existsSync(out("one.txt")) && existsSync(out("two.txt"))).toBe(true);
    const { value } = await sandbox.cli.json<{ resources: Listed[] }>(["infra", "state", "list", "-c", config]);
    const byName = new Map(value.resources.map((r) => [r.name, r]));
    expect(byName.get("target")).toMatchObject({ status: "active", provider_id: out("two.txt") });
    const deposed = value.resources.filter((r) => /^target~deposed-[0-9a-f]{8}$/.test(r.name));
    expect(deposed, JSON.stringify(value.resources)).toHaveLength(1);
    expect(deposed[0]).toMatchObject({ status: "active", provider_id: out("one.txt") });

    // The next plan deletes the deposed one (saying why) and points user to the new one.
    const { report: plan } = await sandbox.cli.events<{ changes: { name: string; action: string; reason?: string }[] }>(["infra", "plan", "-c", config]);
    const planned = new Map(plan.changes.map((c) => [c.name, c]));
    expect(planned.get(deposed[0]?.name ?? "")).toMatchObject({ action: "delete", reason: expect.stringContaining("deposed from target") });
    expect(planned.get("target")?.action).toBe("noop");
    expect(planned.get("user")?.action).toBe("update");

    const { result, events } = await sandbox.cli.events(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(result, 0);
    const at = (type: string, name: string) => events.findIndex((e) => e.type === type && e.resource?.name === name);
    expect(at("resource_finish", "user")).toBeLessThan(at("resource_start", deposed[0]?.name ?? ""));
    expect(existsSync(out("one.txt"))).toBe(false);
    expect(readFileSync(out("two.txt"), "utf8")).toBe("the target");
    expect(readFileSync(out("user.txt"), "utf8")).toBe("uses two.txt");
    const after = await sandbox.cli.json<{ resources: Listed[] }>(["infra", "state", "list", "-c", config]);
    expect(after.value.resources.map((r) => r.name).sort()).toEqual(["target", "user"]);
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
  });
});
