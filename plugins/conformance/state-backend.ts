// The state-backend conformance kit: the behaviour every state store must
// have, whatever backs it (memory, files, PostgreSQL, an object store, a
// plugin written in any language and reached over gRPC). Each check gets a
// fresh, empty store and either returns or throws with what was wrong.
// `describeStateBackendConformance` (./vitest.ts) registers them as tests.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { LockInfo } from "../../proto/state-store.js";
import { attempt, check, expectCode, rejection, same } from "./assert.js";
import { cancellationChecks } from "./state-cancellation.js";
import { type ConformanceCheck, largeOutputs, live, sampleState } from "./state-check.js";

export { ConformanceFailure } from "./assert.js";
export { type ConformanceCheck, largeOutputs, sampleState } from "./state-check.js";

export const stateBackendChecks: readonly ConformanceCheck[] = [
  {
    name: "not found: a missing record is undefined, deleting one is not an error, unlocking an unheld lock is NOT_FOUND",
    async run(open) {
      const store = await open();
      check((await store.getState("missing", live())) === undefined, "getState of a missing record must be undefined");
      await attempt("deleteState of a missing record (it is not an error)", store.deleteState("missing", live()));
      same(await store.listStates({}, live()), [], "listStates of an empty store");
      expectCode(await rejection(store.unlock("stack", "no-such-lock", live()), "unlock with no lock held"), [ErrorCode.NOT_FOUND], "unlock with no lock held");
    },
  },
  {
    name: "round-trips a record exactly (nesting, big integers, unicode, every field)",
    async run(open) {
      const store = await open();
      const state = sampleState("a", { dependsOn: ["b", "c"], protected: true, status: "error", error: "it failed: \u2717" });
      await store.saveState(state, live());
      same(await store.getState("a", live()), state, "getState after saveState");
      same(await store.listStates({}, live()), [state], "listStates after saveState");
    },
  },
  {
    name: "round-trips a ~1 MB record (thousands of nested entries) unchanged",
    async run(open) {
      const store = await open();
      const state = sampleState("big", { outputs: largeOutputs(1024 * 1024) });
      check(JSON.stringify(state).length > 1_000_000, "the sample must be over 1 MB");
      await store.saveState(state, live());
      same(await store.getState("big", live()), state, "the 1 MB record read back");
      same((await store.listStates({}, live())).map((s) => s.resourceId), ["big"], "listing the 1 MB record");
    },
  },
  {
    name: "SaveState is a full replace and safe to retry",
    async run(open) {
      const store = await open();
      await store.saveState(sampleState("a", { outputs: { old: true, gone: "soon" } }), live());
      const next = sampleState("a", { outputs: { fresh: 1 }, status: "error", error: "boom" });
      await store.saveState(next, live());
      await store.saveState(next, live());
      same(await store.getState("a", live()), next, "the record after a replace and a retry");
      same((await store.listStates({}, live())).length, 1, "records after saving one twice");
    },
  },
  {
    name: "concurrent SaveState: every record lands whole, and the last of racing writes to one record is one of them, never a mix",
    async run(open) {
      const store = await open();
      const distinct = Array.from({ length: 40 }, (_, i) => sampleState(`r${i}`, { outputs: { i } }));
      const racing = Array.from({ length: 20 }, (_, i) => sampleState("shared", { outputs: { writer: i, payload: "x".repeat(1000 + i) }, providerId: `p${i}` }));
      await Promise.all([...distinct, ...racing].map((s) => store.saveState(s, live())));
      const all = await store.listStates({}, live());
      same(all.length, 41, "records after concurrent saves");
      for (const s of distinct) same(await store.getState(s.resourceId, live()), s, `record ${s.resourceId}`);
      const shared = await store.getState("shared", live());
      check(shared !== undefined, "the record written concurrently must exist");
      const writer = (shared.outputs as { writer?: number }).writer;
      same(shared, racing[writer ?? -1], "the racing record must equal exactly one of the writes");
    },
  },
  {
    name: "lists with a filter on type, provider and status, and refuses unknown filter keys",
    async run(open) {
      const store = await open();
      await store.saveState(sampleState("a"), live());
      await store.saveState(sampleState("b", { resourceType: "local.directory" }), live());
      await store.saveState(sampleState("c", { provider: "other", status: "error" }), live());
      same((await store.listStates({}, live())).map((s) => s.resourceId).sort(), ["a", "b", "c"], "unfiltered listing");
      same((await store.listStates({ resource_type: "local.directory" }, live())).map((s) => s.resourceId), ["b"], "filter on resource_type");
      same((await store.listStates({ provider: "other", status: "error" }, live())).map((s) => s.resourceId), ["c"], "filter on provider and status");
      expectCode(await rejection(store.listStates({ colour: "red" }, live()), "an unknown filter key"), [ErrorCode.INVALID_ARGUMENT], "an unknown filter key");
    },
  },
  {
    name: "deletes a record; deleting it again is not an error",
    async run(open) {
      const store = await open();
      await store.saveState(sampleState("a"), live());
      await store.saveState(sampleState("b"), live());
      await store.deleteState("a", live());
      await attempt("deleteState of a record deleted already (it is not an error)", store.deleteState("a", live()));
      check((await store.getState("a", live())) === undefined, "a deleted record must be gone");
      same((await store.listStates({}, live())).map((s) => s.resourceId), ["b"], "listing after a delete");
    },
  },
  {
    name: "lock contention fails at once with LOCK_HELD carrying the held lock as data (details.lock: id, holder, operation, host and pids), whatever its message says",
    async run(open) {
      const store = await open();
      const request = { holder: "alice@ci (pid 1)", operation: "apply", version: "0.1.0", host: "ci", pid: 1, daemonPid: 2 };
      const lock = await store.lock("stack", request, live());
      check(lock.lockId !== "" && lock.resourceId === "stack" && lock.holder === request.holder && lock.operation === "apply", `lock info returned: ${JSON.stringify(lock)}`);
      check(lock.host === "ci" && lock.pid === 1 && lock.daemonPid === 2, `a lock must keep the host and pids it was given (host "ci", pid 1, daemon_pid 2): ${JSON.stringify(lock)}`);
      check(!Number.isNaN(Date.parse(lock.createdAt)), `lock createdAt must be a timestamp, got "${lock.createdAt}"`);
      const started = Date.now();
      const err = await rejection(store.lock("stack", { holder: "bob@ci (pid 2)", operation: "destroy", version: "0.1.0" }, live()), "a second lock");
      check(Date.now() - started < 5_000, `a contended lock must fail at once, it took ${Date.now() - started} ms`);
      expectCode(err, [ErrorCode.LOCK_HELD], "a second lock");
      heldLockIs(err, lock, "a second lock");
      if (store.listLocks) {
        let listed: LockInfo[] | undefined;
        try {
          listed = await store.listLocks(live());
        } catch (e) {
          // A backend without ListLocks answers UNIMPLEMENTED (UNSUPPORTED here): the host probes with Lock instead.
          if (WfctlError.from(e).code !== ErrorCode.UNSUPPORTED) throw e;
        }
        if (listed) {
          check(listed.length === 1, `ListLocks must list the one lock held, it listed ${listed.length}: ${JSON.stringify(listed)}`);
          check(listed[0]?.lockId === lock.lockId && listed[0]?.holder === lock.holder && listed[0]?.operation === lock.operation, `ListLocks must give the lock as taken: ${JSON.stringify(listed[0])}`);
        }
      }
    },
  },
  {
    name: "unlock with another id is LOCK_HELD carrying the lock held; a forced unlock releases; unlocking what is not held is NOT_FOUND, forced or not",
    async run(open) {
      const store = await open();
      const lock = await store.lock("stack", { holder: "a", operation: "apply", version: "v" }, live());
      const refused = await rejection(store.unlock("stack", "not-the-id", live()), "unlock with another id");
      expectCode(refused, [ErrorCode.LOCK_HELD], "unlock with another id");
      heldLockIs(refused, lock, "unlock with another id");
      await store.unlock("stack", lock.lockId, live());
      const again = await store.lock("stack", { holder: "b", operation: "apply", version: "v" }, live());
      await store.unlock("stack", "whatever", live(), { force: true });
      expectCode(await rejection(store.unlock("stack", again.lockId, live()), "unlock after a forced unlock"), [ErrorCode.NOT_FOUND], "unlock after a forced unlock");
      expectCode(await rejection(store.unlock("stack", "", live(), { force: true }), "a forced unlock of no lock"), [ErrorCode.NOT_FOUND], "a forced unlock of no lock");
      const third = await store.lock("stack", { holder: "c", operation: "apply", version: "v" }, live());
      await store.unlock("stack", third.lockId, live());
    },
  },
  {
    name: "locks are apart from records: a record may share the lock's name, and locks on different names are independent",
    async run(open) {
      const store = await open();
      await store.lock("stack", { holder: "a", operation: "apply", version: "v" }, live());
      await store.lock("other", { holder: "b", operation: "apply", version: "v" }, live());
      await store.saveState(sampleState("stack"), live());
      check((await store.getState("stack", live()))?.resourceId === "stack", "a record named like a lock must be stored");
      same((await store.listStates({}, live())).map((s) => s.resourceId), ["stack"], "locks must not appear as records");
    },
  },
  ...cancellationChecks,
];

/**
 * The check for atomic locks: of 12 racing lockers exactly one wins, and the
 * others fail at once with LOCK_HELD carrying the winner's lock. Every backend whose
 * locks are atomic must pass it; a backend running a check-then-write
 * fallback (s3 or gcs with conditional_writes: false) is not expected to.
 */
/**
 * Checks that a LOCK_HELD error carries `held` as data (ErrorDetails.lock):
 * its id, holder and operation. The message is free text, for people; the
 * host never reads it.
 */
function heldLockIs(err: WfctlError, held: LockInfo, what: string): void {
  const lock = err.lock;
  check(lock !== undefined, `${what}: LOCK_HELD must carry the lock held in its details (wfctl-error-details: {"lock": {...}}), it carried none; message: ${err.message}`);
  check(
    lock.lockId === held.lockId && lock.holder === held.holder && lock.operation === held.operation && lock.resourceId === held.resourceId,
    `${what}: LOCK_HELD must carry the lock held (id ${held.lockId}, holder ${held.holder}, operation ${held.operation}), it carried ${JSON.stringify(lock)}`,
  );
}

export const lockRaceCheck: ConformanceCheck = {
  name: "of 12 racing lockers exactly one wins; the others fail at once with LOCK_HELD carrying the winner's lock",
  async run(open) {
    const store = await open();
    const attempts = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        store.lock("stack", { holder: `runner-${i}`, operation: "apply", version: "v" }, live()).then(
          (lock) => ({ lock }),
          (err: unknown) => ({ err: WfctlError.from(err) }),
        ),
      ),
    );
    const winners = attempts.flatMap((a) => ("lock" in a ? [a.lock] : []));
    check(winners.length === 1, `exactly one racing lock must win, ${winners.length} did: ${winners.map((w) => w.holder).join(", ")}`);
    const [winner] = winners as [LockInfo];
    for (const a of attempts) {
      if (!("err" in a)) continue;
      expectCode(a.err, [ErrorCode.LOCK_HELD], "a losing racer");
      heldLockIs(a.err, winner, "a losing racer");
    }
    await store.unlock("stack", winner.lockId, live());
  },
};
