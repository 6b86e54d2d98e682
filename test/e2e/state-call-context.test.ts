// A state backend served by a plugin gets what a provider gets with every
// call: the caller's remaining deadline (never a fixed one of its own), the
// operation's wfctl-* metadata, and its trace context, so that one trace
// spans the wfctl command, the daemon's operation and the state plugin's
// handlers. The plugin (test/fixtures/plugins/recording-state.mjs) writes
// down what each call brought; the test drives the real CLI.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { OtlpCollector } from "../helpers/otlp-collector.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";
import { waitFor } from "../helpers/processes.js";
import { siteStack } from "../helpers/stacks.js";

/** One line of the plugin's record of a call. */
interface RecordedCall {
  method: string;
  deadline: string | null;
  remaining_ms: number | null;
  metadata: Record<string, string>;
}

const STATE = "  - name: state\n    type: iac.state\n    config: { backend: recording, directory: .wfctl/state, calls: calls.jsonl }\n";

describe("state-backend plugin calls carry the caller's context", () => {
  const sandbox = cliSandbox("wft-statectx-");
  const collector = new OtlpCollector();
  beforeAll(() => collector.start());
  afterAll(() => collector.stop());

  it("with --timeout 20s, every state call has at most 20 s left, the operation's id and metadata, and a traceparent of the command's trace", async () => {
    const dir = sandbox.dir;
    const config = join(dir, "infra.yaml");
    writeFileSync(join(dir, "recording-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "recording-state.mjs"))};\n`);
    writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: recording\n    kind: state_backend\n    source: ./recording-plugin.mjs\n    version: 1.0.0\n");
    writeFileSync(config, siteStack().replace("modules:\n", `modules:\n${STATE}`));
    // The daemon this starts traces (and so passes a traceparent on) as the OTEL_* variables say.
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", config], { env: collector.env() }), 0);
    const calls = join(dir, "calls.jsonl");
    writeFileSync(calls, "");

    const { result, summary } = await sandbox.cli.events(["infra", "apply", "-c", config, "--auto-approve", "--timeout", "20s"], { env: collector.env() });
    expectExit(result, 0);
    const operationId = summary.operation_id;
    expect(operationId).not.toBe("");

    const recorded = readFileSync(calls, "utf8").trim().split("\n").map((line) => JSON.parse(line) as RecordedCall);
    // The apply takes the stack lock, lists what state holds, records each change and releases the lock.
    for (const method of ["Lock", "ListStates", "SaveState", "Unlock"]) expect(recorded.map((c) => c.method)).toContain(method);
    for (const call of recorded) {
      const what = `${call.method}: ${JSON.stringify(call)}`;
      expect(call.remaining_ms, what).not.toBeNull();
      expect(call.remaining_ms, what).toBeGreaterThan(0);
      expect(call.remaining_ms, what).toBeLessThanOrEqual(20_000);
      expect(call.metadata, what).toMatchObject({ "wfctl-operation-id": operationId, "wfctl-operation": "apply" });
      expect(call.metadata["wfctl-caller"], what).toBeTruthy();
      expect(call.metadata["traceparent"], what).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    }

    // One trace: the command's span, the daemon's operation, the daemon's span for each state call, the plugin's handler.
    const root = () => collector.spans.find((s) => s.service === "wfctl" && s.name === "wfctl infra apply");
    await waitFor(() => root() !== undefined, 10_000, "the command's span");
    const traceId = root()?.traceId as string;
    for (const call of recorded) expect(call.metadata["traceparent"]?.split("-")[1], call.method).toBe(traceId);
    const inTrace = () => collector.spans.filter((s) => s.traceId === traceId);
    const handlers = () => inTrace().filter((s) => s.service === "wfctl-plugin-recording" && s.name === "recording IaCStateBackend/SaveState");
    await waitFor(() => handlers().length >= 3, 15_000, "the state plugin's SaveState handler spans, in the command's trace");
    await waitFor(() => inTrace().some((s) => s.name === "wfctld Apply"), 15_000, "the daemon's operation span");
    const spans = inTrace();
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const operation = spans.find((s) => s.service === "wfctld" && s.name === "wfctld Apply");
    for (const handler of handlers()) {
      const call = byId.get(handler.parentSpanId);
      expect(call).toMatchObject({ service: "wfctld", name: "plugin recording IaCStateBackend/saveState" });
      expect(call?.parentSpanId).toBe(operation?.spanId);
    }
  });
});
