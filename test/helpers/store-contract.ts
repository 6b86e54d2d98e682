// The behaviour every StateStore must have, whatever it is backed by: the
// same tests run against memory, filesystem and plugin-served stores.
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../proto/errors.js";
import type { ResourceState, StateStore } from "../../proto/state-store.js";
import { rejectionOf } from "./errors.js";

export function sampleState(id: string, overrides: Partial<ResourceState> = {}): ResourceState {
  return {
    resourceId: id,
    resourceType: "local.file",
    provider: "local",
    status: "active",
    outputs: { size: 3, nested: { list: [1, "two", null], big: 9007199254740991 } },
    config: { path: `${id}.txt`, content: "abc" },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-02T00:00:00.000Z",
    error: "",
    providerId: `/root/${id}.txt`,
    protected: false,
    dependsOn: [],
    ...overrides,
  };
}

const live = () => ({ signal: new AbortController().signal });

const rejection = rejectionOf;

/** Registers the contract tests; `open` gives a fresh, empty store. */
export function stateStoreContract(name: string, open: () => Promise<StateStore>): void {
  describe(`${name} state store contract`, () => {
    it("returns undefined for a missing record and round-trips a saved one exactly", async () => {
      const store = await open();
      expect(await store.getState("missing", live())).toBeUndefined();
      const state = sampleState("a", { dependsOn: ["b"], protected: true });
      await store.saveState(state, live());
      expect(await store.getState("a", live())).toEqual(state);
    });

    it("replaces a record fully on save, and saving twice is harmless", async () => {
      const store = await open();
      await store.saveState(sampleState("a", { outputs: { old: true } }), live());
      const next = sampleState("a", { outputs: { fresh: 1 }, status: "error", error: "boom" });
      await store.saveState(next, live());
      await store.saveState(next, live());
      expect(await store.getState("a", live())).toEqual(next);
      expect(await store.listStates({}, live())).toHaveLength(1);
    });

    it("lists with a filter, and refuses unknown filter keys", async () => {
      const store = await open();
      await store.saveState(sampleState("a"), live());
      await store.saveState(sampleState("b", { resourceType: "local.directory" }), live());
      expect((await store.listStates({}, live())).map((s) => s.resourceId).sort()).toEqual(["a", "b"]);
      expect((await store.listStates({ resource_type: "local.directory" }, live())).map((s) => s.resourceId)).toEqual(["b"]);
      expect((await rejection(store.listStates({ colour: "red" }, live()))).code).toBe(ErrorCode.INVALID_ARGUMENT);
    });

    it("deletes a record, and deleting a missing one is not an error", async () => {
      const store = await open();
      await store.saveState(sampleState("a"), live());
      await store.deleteState("a", live());
      await store.deleteState("a", live());
      expect(await store.getState("a", live())).toBeUndefined();
    });

    it("fails a second lock at once with LOCK_HELD naming the holder and operation", async () => {
      const store = await open();
      const lock = await store.lock("stack", { holder: "alice@ci (pid 1)", operation: "apply", version: "0.1.0" }, live());
      expect(lock).toMatchObject({ resourceId: "stack", holder: "alice@ci (pid 1)", operation: "apply" });
      expect(lock.lockId).not.toBe("");
      const started = Date.now();
      const err = await rejection(store.lock("stack", { holder: "bob@ci (pid 2)", operation: "destroy", version: "0.1.0" }, live()));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(err.code).toBe(ErrorCode.LOCK_HELD);
      expect(err.message).toContain("alice@ci (pid 1)");
      expect(err.message).toContain('"apply"');
      expect(err.message).toContain(lock.lockId);
    });

    it("unlocks only with the right lock id unless forced, then can be locked again", async () => {
      const store = await open();
      const lock = await store.lock("stack", { holder: "a", operation: "apply", version: "v" }, live());
      expect((await rejection(store.unlock("stack", "not-the-id", live()))).code).toBe(ErrorCode.LOCK_HELD);
      await store.unlock("stack", lock.lockId, live());
      const again = await store.lock("stack", { holder: "b", operation: "apply", version: "v" }, live());
      await store.unlock("stack", "whatever", live(), { force: true });
      expect((await rejection(store.unlock("stack", again.lockId, live()))).code).toBe(ErrorCode.NOT_FOUND);
    });

    it("keeps locks apart from records: a resource may share the lock's name", async () => {
      const store = await open();
      await store.lock("stack", { holder: "a", operation: "apply", version: "v" }, live());
      await store.saveState(sampleState("stack"), live());
      expect(await store.getState("stack", live())).toMatchObject({ resourceId: "stack" });
    });

    it("refuses to work for a caller that has already given up", async () => {
      const store = await open();
      await store.saveState(sampleState("a"), live());
      const controller = new AbortController();
      controller.abort(new DOMException("gone", "AbortError"));
      const ctx = { signal: controller.signal };
      expect((await rejection(store.listStates({}, ctx))).code).toBe(ErrorCode.CANCELLED);
      expect((await rejection(store.saveState(sampleState("b"), ctx))).code).toBe(ErrorCode.CANCELLED);
      expect(await store.getState("b", live())).toBeUndefined();
    });

    it("keeps many records (listing returns all of them)", async () => {
      const store = await open();
      for (let i = 0; i < 1200; i++) await store.saveState(sampleState(`r${String(i).padStart(4, "0")}`), live());
      const all = await store.listStates({}, live());
      expect(all).toHaveLength(1200);
      expect(new Set(all.map((s) => s.resourceId)).size).toBe(1200);
    });
  });
}
