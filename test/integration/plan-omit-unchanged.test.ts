// PlanRequest's omit_unchanged: the CLI's text views show no unchanged
// resource that has nothing to say, so they are not sent (a no-change plan of
// 1,000 resources: 1,000 changes to encode and decode). Every change a view
// shows still comes, an unchanged ghost included, and the summary and
// fingerprint still cover every resource.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Action } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { type StartedDaemon, daemonClient, startWfctld } from "../helpers/wfctld.js";

const stack = (contents: string[]) =>
  "modules:\n  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: .wfctl/state }\n" +
  "  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n" +
  contents.map((content, i) => `  - name: f${i}\n    type: local.file\n    provider: local\n    config: { path: f${i}.txt, content: "${content}" }\n`).join("");

describe("Plan with omit_unchanged", () => {
  let daemon: StartedDaemon;
  beforeAll(async () => {
    daemon = await startWfctld([], "wft-omit-");
  });
  afterAll(() => daemon.stop());

  it("leaves out the unchanged resources with nothing to show, and nothing else", async () => {
    const config = join(daemon.dir, "infra.yaml");
    writeFileSync(config, stack(["a", "b", "c", "d"]));
    const client = daemonClient(daemon.socket);
    const applied = await client.apply({ target: { configPath: config } });
    expect(applied.results).toHaveLength(4);
    // f0 changes, f1 is gone (a ghost: unchanged, but shown), f2 and f3 are as applied.
    writeFileSync(config, stack(["a2", "b", "c", "d"]));
    rmSync(join(daemon.dir, "out", "f1.txt"));
    const whole = (await client.plan({ target: { configPath: config } })).plan;
    const shown = (await client.plan({ target: { configPath: config }, omitUnchanged: true })).plan;
    expect(whole?.changes.map((c) => [c.name, c.action, c.ghost])).toEqual([
      ["f0", Action.UPDATE, false],
      ["f1", Action.NOOP, true],
      ["f2", Action.NOOP, false],
      ["f3", Action.NOOP, false],
    ]);
    expect(shown?.changes.map((c) => [c.name, c.action, c.ghost])).toEqual([
      ["f0", Action.UPDATE, false],
      ["f1", Action.NOOP, true],
    ]);
    expect(shown?.changes[0]).toEqual(whole?.changes[0]);
    expect(shown?.summary).toEqual(whole?.summary);
    expect(shown?.summary?.noop).toBe(3);
    expect(shown?.fingerprint).toBe(whole?.fingerprint);
  });
});
