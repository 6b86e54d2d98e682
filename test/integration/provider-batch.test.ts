// IaCBatchProvider end to end: the SDK answers each item of a batch as its
// single call would (its own error included), and the host's batching client
// sends the reads, plans and drift detections made together as one call,
// settling each caller with its own item, and single calls to a plugin that
// does not batch (or lacks the batch method).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BATCH_LIMITS, batchingClient, batchingDriftDetector } from "../../daemon/engine/provider-batch.js";
import { PluginCatalog } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { ErrorCode } from "../../proto/errors.js";
import { Action, DriftClass, IaCBatchProvider, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { decodeJsonObject, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { ROOT, tempDir } from "../helpers/paths.js";
import { waitFor } from "../helpers/processes.js";
import { fixture, quiet } from "../helpers/supervisors.js";

const prior = (label: string) => ({ providerId: label, configJson: encodeJson({ label }), outputsJson: encodeJson({}) });
const readOf = (name: string) => ({ resource: { name, type: "batch.thing" }, prior: prior(name) });
const planOf = (name: string, label: string) => ({ resource: { name, type: "batch.thing" }, desiredConfigJson: encodeJson({ label }), prior: prior(name) });
const options = (operation: string) => ({ deadline: new Date(Date.now() + 30_000), metadata: { "wfctl-operation-id": operation } });

/** The calls the plugin logged as `message` for the resources named in `names`: the method that carried each (its `key` field). */
function loggedMethods(instance: PluginInstance, names: readonly string[], message = "fixture: read", key = "method"): Map<string, string> {
  const methods = new Map<string, string>();
  for (const line of instance.recentLogs()) {
    if (!line.includes(message)) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    const [name, method] = [entry["name"], entry[key]];
    if (typeof name === "string" && names.includes(name) && typeof method === "string") methods.set(name, method);
  }
  return methods;
}
const readMethods = (instance: PluginInstance, names: readonly string[]) => loggedMethods(instance, names);

describe("IaCBatchProvider", () => {
  let supervisor: PluginSupervisor;
  let instance: PluginInstance;
  beforeAll(async () => {
    supervisor = new PluginSupervisor(new PluginCatalog([fixture("batch-provider"), fixture("busy-provider")]), quiet);
    instance = await supervisor.acquire(supervisor.catalog.get("provider", "batch-provider"), "k", async (i) => {
      await i.client(IaCProvider).configure({ configJson: encodeJson({}), workingDir: tempDir("wft-batch-").path });
    });
  });
  afterAll(() => supervisor.stopAll());

  it("an SDK plugin answers each item as its single call would, in order, a failing item with its own error", async () => {
    expect(instance.serves(IaCBatchProvider)).toBe(true);
    const batch = instance.client(IaCBatchProvider);
    const single = instance.client(IaCProvider);
    const names = ["a", "gone-b", "fail-c", "d"];
    const { results } = await batch.readResources({ items: names.map(readOf) }, options("op-sdk"));
    expect(results.map((r) => r.result.case)).toEqual(["response", "response", "error", "response"]);
    for (const [i, name] of names.entries()) {
      const result = results[i]?.result;
      if (result?.case !== "response") continue;
      expect(result.value).toEqual(await single.read(readOf(name), options("op-sdk")));
    }
    const failed = results[2]?.result;
    expect(failed?.case === "error" && failed.value).toMatchObject({ status: 7, code: ErrorCode.PERMISSION_DENIED, message: "fail-c: no access" });
    expect(failed?.case === "error" && failed.value.details?.problems.map((p) => [p.field, p.message])).toEqual([["label", "not readable"]]);
    // Plans too; an item the provider cannot plan (an unknown type) fails alone.
    const plans = await batch.planResources({ items: [planOf("a", "a"), planOf("b", "new"), { ...planOf("c", "c"), resource: { name: "c", type: "no.such" } }] }, options("op-sdk"));
    expect(plans.results.map((r) => (r.result.case === "response" ? Action[r.result.value.action] : r.result.value?.code))).toEqual(["NOOP", "UPDATE", ErrorCode.INVALID_ARGUMENT]);
    expect((await batch.readResources({ items: [] }, options("op-sdk"))).results).toEqual([]);
  });

  it("the host's client sends the reads made together as one batch call, and each caller gets its own answer or error", async () => {
    const client = batchingClient(instance, instance.client(IaCProvider));
    const names = Array.from({ length: 40 }, (_, i) => (i === 7 ? "fail-7" : i === 9 ? "gone-9" : `r${i}`));
    const settled = await Promise.allSettled(names.map((name) => client.read(readOf(name), options("op-host"))));
    let methods = new Map<string, string>();
    await waitFor(() => (methods = readMethods(instance, names)).size === names.length, 10_000, "the plugin to log every read");
    expect(new Set(methods.values())).toEqual(new Set(["/wfctl.plugin.v1.IaCBatchProvider/ReadResources"]));
    for (const [i, outcome] of settled.entries()) {
      if (i === 7) {
        expect(outcome.status).toBe("rejected");
        const err = (outcome as PromiseRejectedResult).reason as { code: string; message: string; details: unknown[] };
        expect(err.code).toBe(ErrorCode.PERMISSION_DENIED);
        // Named as a single call's error is: the plugin, then its own words.
        expect(err.message).toMatch(/batch-provider.*fail-7: no access/);
        expect(err.details).toEqual([{ field: "label", message: "not readable" }]);
        continue;
      }
      expect(outcome.status).toBe("fulfilled");
      const read = (outcome as PromiseFulfilledResult<{ found: boolean; outputsJson: Uint8Array }>).value;
      expect(read.found).toBe(i !== 9);
      if (i !== 9) expect(decodeJsonObject(read.outputsJson, "outputs")).toEqual({ seen: names[i], operation: "op-host" });
    }
  });

  it("the host's drift detector sends the DetectDrift calls made together as one DetectDrifts call, each caller with its own class or error", async () => {
    expect(instance.serves(IaCDriftDetector)).toBe(true);
    const detect = batchingDriftDetector(instance);
    const names = Array.from({ length: 30 }, (_, i) => (i === 4 ? "fail-d4" : i === 6 ? "gone-d6" : `d${i}`));
    const settled = await Promise.allSettled(names.map((name) => detect(readOf(name), options("op-drift"))));
    let methods = new Map<string, string>();
    await waitFor(() => (methods = readMethods(instance, names)).size === names.length, 10_000, "the plugin to log every read");
    expect(new Set(methods.values())).toEqual(new Set(["/wfctl.plugin.v1.IaCBatchProvider/DetectDrifts"]));
    const single = instance.client(IaCDriftDetector);
    for (const [i, outcome] of settled.entries()) {
      if (i === 4) {
        const err = (outcome as PromiseRejectedResult).reason as { code: string; message: string };
        expect(outcome.status).toBe("rejected");
        expect(err.code).toBe(ErrorCode.PERMISSION_DENIED);
        expect(err.message).toMatch(/batch-provider.*fail-d4: no access/);
        continue;
      }
      expect(outcome.status).toBe("fulfilled");
      const answer = (outcome as PromiseFulfilledResult<Awaited<ReturnType<typeof detect>>>).value;
      expect(answer.result?.class).toBe(i === 6 ? DriftClass.GHOST : DriftClass.IN_SYNC);
      // The same answer as the single call's.
      expect(answer).toEqual(await single.detectDrift(readOf(names[i] as string), options("op-drift")));
    }
  });

  it("more items than one batch holds all come back to their own callers, and calls of different operations never share a call", async () => {
    const client = batchingClient(instance, instance.client(IaCProvider));
    const count = BATCH_LIMITS.items + 3;
    const first = Array.from({ length: count }, (_, i) => `x${i}`);
    const other = ["y0", "y1"];
    const reads = await Promise.all([...first.map((n) => client.read(readOf(n), options("op-x"))), ...other.map((n) => client.read(readOf(n), options("op-y")))]);
    // Each answer is its own item's, from a call of its own operation.
    const seen = reads.map((r) => decodeJsonObject(r.outputsJson, "outputs"));
    expect(seen).toEqual([...first.map((n) => ({ seen: n, operation: "op-x" })), ...other.map((n) => ({ seen: n, operation: "op-y" }))]);
  });

  it("a batch call cancelled mid-way settles every item as cancelled", async () => {
    const client = batchingClient(instance, instance.client(IaCProvider));
    const controller = new AbortController();
    const calls = ["hang-1", "hang-2", "r-ok"].map((name) => client.read(readOf(name), { ...options("op-cancel"), signal: controller.signal }));
    await waitFor(() => readMethods(instance, ["hang-1", "hang-2"]).size === 2, 10_000, "the hanging reads to reach the plugin");
    controller.abort();
    for (const call of calls) expect((await rejectionOf(call)).code).toBe(ErrorCode.CANCELLED);
  });
});

describe("a plugin serving IaCBatchProvider without DetectDrifts (written against the contract before it)", () => {
  let supervisor: PluginSupervisor;
  afterAll(() => supervisor.stopAll());

  it("gets single DetectDrift calls once it answers DetectDrifts as unimplemented, every caller with its answer", async () => {
    supervisor = new PluginSupervisor(new PluginCatalog([fixture("old-batch-provider")]), quiet);
    const instance = await supervisor.acquire(supervisor.catalog.get("provider", "old-batch-provider"), "k", async () => {});
    expect([instance.serves(IaCBatchProvider), instance.serves(IaCDriftDetector)]).toEqual([true, true]);
    const detect = batchingDriftDetector(instance);
    for (const round of [1, 2]) {
      const names = ["a", "b", "c", "d"].map((n) => `${n}${round}`);
      const answers = await Promise.all(names.map((name) => detect(readOf(name), options("op-old"))));
      expect(answers.map((a) => a.result?.class)).toEqual(names.map(() => DriftClass.IN_SYNC));
      let carried = new Map<string, string>();
      await waitFor(() => (carried = loggedMethods(instance, names, "fixture: detect drift", "carried_by")).size === names.length, 10_000, "the plugin to log every DetectDrift");
      expect(new Set(carried.values())).toEqual(new Set(["DetectDrift"]));
    }
  });
});

describe("a plugin without IaCBatchProvider (the example written without the SDK)", () => {
  let supervisor: PluginSupervisor;
  afterAll(() => supervisor.stopAll());

  it("gets single calls from the batching client, with the same answers", async () => {
    const spec = { name: "jsfiles", kind: "provider" as const, executable: process.execPath, args: [join(ROOT, "examples", "plugin-without-sdk", "provider.mjs")], env: {}, source: "example" };
    supervisor = new PluginSupervisor(new PluginCatalog([spec]), quiet);
    const root = tempDir("wft-batch-").path;
    for (const name of ["a", "b", "c"]) writeFileSync(join(root, `${name}.txt`), `file ${name}`);
    const instance = await supervisor.acquire(spec, "k", async (i) => {
      await i.client(IaCProvider).configure({ configJson: encodeJson({ root: "." }), workingDir: root });
    });
    expect(instance.serves(IaCBatchProvider)).toBe(false);
    const client = batchingClient(instance, instance.client(IaCProvider));
    const recorded = (name: string) => ({ providerId: "", configJson: encodeJson({ path: `${name}.txt`, content: "", mode: "0644" }), outputsJson: encodeJson({}) });
    const reads = await Promise.all(["a", "b", "c", "d"].map((name) => client.read({ resource: { name, type: "jsfiles.file" }, prior: recorded(name) }, options("op-single"))));
    expect(reads.map((r) => r.found && decodeJsonObject(r.configJson, "config")["content"])).toEqual(["file a", "file b", "file c", false]);
  });
});
