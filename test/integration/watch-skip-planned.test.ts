// WatchOperation's skip_planned: a view that shows no planned lines (the
// CLI's plain and live views) is not sent one event per planned resource;
// everything else, the summary's counts included, comes as to any watcher.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OperationEvent, ResourcePhase } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { type StartedDaemon, daemonClient, startWfctld } from "../helpers/wfctld.js";

describe("WatchOperation with skip_planned", () => {
  let daemon: StartedDaemon;
  beforeAll(async () => {
    daemon = await startWfctld([], "wft-skip-");
  });
  afterAll(() => daemon.stop());

  it("leaves out the planned events and nothing else", async () => {
    const config = join(daemon.dir, "infra.yaml");
    const files = Array.from({ length: 5 }, (_, i) => `  - name: f${i}\n    type: local.file\n    provider: local\n    config: { path: f${i}.txt, content: "${i}" }\n`);
    writeFileSync(config, `modules:\n  - name: state\n    type: iac.state\n    config: { backend: memory }\n  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n${files.join("")}`);
    const client = daemonClient(daemon.socket);
    const operationId = "3f1e8a52-6c1b-4d0e-9f3a-5b7c2d9e4a10";
    const watch = async (skipPlanned: boolean) => {
      const events: OperationEvent[] = [];
      for await (const event of client.watchOperation({ operationId, waitMs: 30_000, skipPlanned })) events.push(event);
      return events;
    };
    const [all, skipping] = [watch(false), watch(true)];
    await client.plan({ target: { configPath: config }, operation: { id: operationId } });
    const [every, some] = await Promise.all([all, skipping]);
    const planned = (events: OperationEvent[]) => events.filter((e) => e.event.case === "resource" && e.event.value.phase === ResourcePhase.PLANNED);
    expect(planned(every)).toHaveLength(5);
    expect(planned(some)).toHaveLength(0);
    // The rest is the same events, sequence numbers and all; the summary still counts the five.
    expect(some.map((e) => e.sequence)).toEqual(every.filter((e) => !planned(every).includes(e)).map((e) => e.sequence));
    const summary = some.at(-1)?.event;
    expect(summary?.case).toBe("summary");
    expect(summary?.case === "summary" && summary.value.planned).toEqual({ create: 5 });
  });
});
