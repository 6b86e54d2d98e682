// One trace across three processes: the wfctl command, the daemon's
// operation, each plugin call, and the plugin's own handler, exported over
// OTLP/HTTP to a real receiver as the standard OTEL_* variables direct.
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliSandbox } from "../helpers/cli.js";
import { OtlpCollector } from "../helpers/otlp-collector.js";
import { QUICKSTART } from "../helpers/paths.js";
import { waitFor } from "../helpers/processes.js";

describe("tracing across client, daemon and plugin", () => {
  const sandbox = cliSandbox("wft-otel-");
  const collector = new OtlpCollector();
  beforeAll(() => collector.start());
  afterAll(() => collector.stop());

  it("one trace id spans the command, the daemon operation, the plugin calls and the plugin handlers", async () => {
    const config = join(sandbox.dir, "infra.yaml");
    copyFileSync(join(QUICKSTART, "infra.yaml"), config);
    // The daemon this command starts inherits the variables, and passes them to its plugins.
    const result = await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env: collector.env() });
    expect(result.code, result.stderr).toBe(0);

    const root = () => collector.spans.find((s) => s.service === "wfctl" && s.name === "wfctl infra apply");
    await waitFor(() => root() !== undefined, 10_000, "the command's span");
    const traceId = root()?.traceId as string;
    const inTrace = () => collector.spans.filter((s) => s.traceId === traceId);
    const handlers = () => inTrace().filter((s) => s.service === "wfctl-plugin-local" && s.name === "local IaCProvider/Apply");
    await waitFor(() => handlers().length === 3, 15_000, "a plugin handler span per resource, in the command's trace");
    await waitFor(() => inTrace().some((s) => s.name === "wfctld Apply"), 15_000, "the daemon's operation span");

    const spans = inTrace();
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const operation = spans.find((s) => s.service === "wfctld" && s.name === "wfctld Apply");
    expect(operation?.parentSpanId).toBe(root()?.spanId);
    // Each handler span's parent is the daemon's span for that call, whose parent is the operation.
    for (const handler of spans.filter((s) => s.name === "local IaCProvider/Apply")) {
      const call = byId.get(handler.parentSpanId);
      expect(call).toMatchObject({ service: "wfctld", name: "plugin local IaCProvider/apply" });
      expect(call?.parentSpanId).toBe(operation?.spanId);
    }
  });

  it("exports metrics: operations by outcome, plugin call latency", async () => {
    await waitFor(
      () => collector.metrics.has("wfctld wfctl.operations") && collector.metrics.has("wfctld wfctl.plugin.call.duration"),
      15_000,
      `the daemon's metrics (received so far: ${[...collector.metrics].join(", ") || "none"})`,
    );
  });

  it("exports nothing when the OTEL_* variables are not set", async () => {
    const before = collector.spans.length;
    const result = await sandbox.cli.run(["daemon", "status"], { env: { OTEL_TRACES_EXPORTER: undefined, OTEL_EXPORTER_OTLP_ENDPOINT: undefined } });
    expect(result.code).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(collector.spans.filter((s) => s.service === "wfctl").length).toBe(collector.spans.slice(0, before).filter((s) => s.service === "wfctl").length);
  });
});
