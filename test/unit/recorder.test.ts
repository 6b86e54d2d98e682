// The recorder of an apply's state writes, against a real in-memory store
// that fails on demand: the first failed write stops the operation once; an
// intent is tried once, a result retried until the store recovers; a result
// that never gets written is listed with what an operator needs.
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../daemon/log.js";
import { OperationRegistry } from "../../daemon/engine/operations.js";
import { StateRecorder, stateWriteFailure } from "../../daemon/engine/recorder.js";
import { MemoryStateStore } from "../../daemon/state/memory.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { ResourceState, StoreContext } from "../../proto/state-store.js";
import { sampleState } from "../../plugins/conformance/state-backend.js";

/** A memory store whose next `failures` writes fail, as a store that went away and came back. */
class FlakyStore extends MemoryStateStore {
  attempts = 0;
  constructor(public failures: number) {
    super();
  }
  override async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw new WfctlError(ErrorCode.STATE_BACKEND_UNAVAILABLE, "connection refused");
    }
    await super.saveState(state, ctx);
  }
}

function recorderOver(store: FlakyStore) {
  const ctx = new OperationRegistry(silentLogger()).start("apply", { target: { configPath: "/x/infra.yaml", env: "" }, caller: { user: "u@h", pid: 1, command: "t" }, deadline: undefined });
  const stops: WfctlError[] = [];
  const recorder = new StateRecorder(store, ctx, (e) => stops.push(e), [1, 1, 1]);
  return { recorder, stops, ctx };
}

const live = { signal: new AbortController().signal };

describe("StateRecorder", () => {
  it("an intent is tried once: a failure stops the operation and is thrown", async () => {
    const store = new FlakyStore(1);
    const { recorder, stops } = recorderOver(store);
    await expect(recorder.intent(sampleState("a"))).rejects.toMatchObject({ code: ErrorCode.STATE_BACKEND_UNAVAILABLE });
    expect(store.attempts).toBe(1);
    expect(stops).toHaveLength(1);
    expect(recorder.unrecorded).toEqual([]);
  });

  it("a result is retried until the store recovers; the operation was stopped at the first failure, once", async () => {
    const store = new FlakyStore(2);
    const { recorder, stops } = recorderOver(store);
    await recorder.result(sampleState("a"), { action: "create", providerId: "/out/a", recordedAs: "a pending record" });
    expect(store.attempts).toBe(3);
    expect(stops).toHaveLength(1);
    expect(recorder.failure?.code).toBe(ErrorCode.STATE_BACKEND_UNAVAILABLE);
    expect(await store.getState("a", live)).toBeDefined();
    expect(recorder.unrecorded).toEqual([]);
  });

  it("a result never written is listed with its provider id and what state holds instead", async () => {
    const store = new FlakyStore(100);
    const { recorder, stops } = recorderOver(store);
    const error = await recorder.result(sampleState("a"), { action: "create", providerId: "/out/a", recordedAs: "a pending record" }).catch((e: unknown) => WfctlError.from(e));
    expect(error).toMatchObject({ code: ErrorCode.STATE_WRITE_FAILED });
    expect(error?.message).toContain("the create was made (provider id /out/a), but its record could not be written");
    expect(store.attempts).toBe(4);
    expect(stops).toHaveLength(1);
    expect(recorder.unrecorded).toEqual([{ name: "a", type: "local.file", action: "create", providerId: "/out/a", recordedAs: "a pending record", error: "connection refused" }]);
    const final = stateWriteFailure(recorder.failure as WfctlError, recorder.unrecorded, "postgres db");
    expect(final.code).toBe(ErrorCode.STATE_WRITE_FAILED);
    expect(final.message).toContain("started no change after the first failed write");
    expect(final.message).toContain("a (local.file): created, provider id /out/a; state holds a pending record");
  });

  it("bookkeeping writes (a withdrawn intent, a failed update noted) never throw", async () => {
    const { recorder } = recorderOver(new FlakyStore(100));
    await expect(recorder.note(sampleState("a"))).resolves.toBeUndefined();
    await expect(recorder.forget(sampleState("a"))).resolves.toBeUndefined();
  });
});
