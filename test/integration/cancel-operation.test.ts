// Cancelling an operation without losing its answers, across a real plugin
// boundary (the settlefs fixture, a real process): PluginController.
// CancelOperation aborts the calls of that operation inside the plugin, the
// host keeps waiting for their answers for a grace period, and only a call
// that never answers is cancelled, its outcome unknown.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { CancelReason, PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { Action, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { CallOptions } from "../../proto/grpc.js";
import { encodeJson } from "../../proto/json.js";
import { PluginCatalog } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { waitFor } from "../helpers/processes.js";
import { fixture, quiet } from "../helpers/supervisors.js";

const failure = (promise: Promise<unknown>) => promise.then(() => new WfctlError(ErrorCode.INTERNAL, "succeeded"), (err: unknown) => WfctlError.from(err));

describe("CancelOperation: stopping an operation's changes without losing their answers", () => {
  let supervisor: PluginSupervisor;
  let instance: PluginInstance;
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "wft-cancel-"));
    supervisor = new PluginSupervisor(new PluginCatalog([fixture("settlefs")]), quiet);
    instance = await supervisor.acquire(supervisor.catalog.get("provider", "settlefs"), "k", async (i) => {
      await i.client(IaCProvider).configure({ configJson: encodeJson({ root }), workingDir: root });
    });
  });
  afterAll(async () => {
    await supervisor.stopAll();
    rmSync(root, { recursive: true, force: true });
  });

  /** A create of `name` in operation `op`, cancelled by `controller` the graceful way. */
  const create = (name: string, op: string, config: Record<string, unknown>, controller: AbortController, graceMs: number, notified: string[] = []) => {
    const options: CallOptions = {
      signal: controller.signal,
      metadata: { "wfctl-operation-id": op },
      onAbort: {
        graceMs,
        notify: () => {
          notified.push(op);
          void instance.client(PluginController).cancelOperation({ operationId: op, reason: CancelReason.CANCELLED, message: "Ctrl-C" }).catch(() => {});
        },
      },
    };
    return instance.client(IaCProvider).apply(
      { resource: { name, type: "settlefs.file" }, action: Action.CREATE, desiredConfigJson: encodeJson({ path: `${name}.txt`, content: name, ...config }) },
      options,
    );
  };

  it("the plugin's calls of that operation are aborted, and the answer each gives still arrives", async () => {
    const controller = new AbortController();
    const notified: string[] = [];
    const call = failure(create("a", "op-a", { settle_ms: 30_000 }, controller, 10_000, notified));
    await waitFor(() => existsSync(join(root, "a.txt")), 10_000, "the file to be written");
    controller.abort();
    const err = await call;
    // The plugin's own answer (it stopped while settling), not a cancellation made up by the host.
    expect(err.code).toBe(ErrorCode.CANCELLED);
    expect(err.message).toContain("stopped while settling (the file was written)");
    expect(notified).toEqual(["op-a"]);
  });

  it("a change that completes after the cancellation is answered with its result, which the host keeps", async () => {
    const controller = new AbortController();
    const call = create("b", "op-b", { settle_ms: 1_000, ignore_cancel: true }, controller, 10_000);
    await waitFor(() => existsSync(join(root, "b.txt")), 10_000, "the file to be written");
    controller.abort();
    const response = await call;
    expect(response.providerId).toBe(join(root, "b.txt"));
  });

  it("a call that does not answer within the grace is cancelled, its outcome UNKNOWN", async () => {
    const controller = new AbortController();
    const call = failure(create("c", "op-c", { settle_ms: 20_000, ignore_cancel: true }, controller, 300));
    await waitFor(() => existsSync(join(root, "c.txt")), 10_000, "the file to be written");
    controller.abort();
    const err = await call;
    expect(err.code).toBe(ErrorCode.UNKNOWN);
    expect(err.message).toContain("outcome is unknown");
  });

  it("a call of an operation already cancelled starts aborted, and a plugin answers how many calls it stopped", async () => {
    const answer = await instance.client(PluginController).cancelOperation({ operationId: "op-d", reason: CancelReason.DEADLINE_EXCEEDED, message: "out of time" });
    expect(answer.calls).toBe(0);
    const err = await failure(create("d", "op-d", { settle_ms: 30_000 }, new AbortController(), 10_000));
    expect(err.code).toBe(ErrorCode.CANCELLED);
    expect(err.message).toContain("stopped while settling");
    const refused = await failure(instance.client(PluginController).cancelOperation({ operationId: "", reason: CancelReason.CANCELLED, message: "" }));
    expect(refused.code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});
