// The state-backend kit's checks of cancellation, deadlines and listings
// that must never come back partial. They check the store itself: a store
// in this process gets a signal that has already aborted; a plugin gets, on
// a live gRPC call with a real deadline, the calls of an operation it was
// told (PluginController.CancelOperation) was cancelled or ran out of time,
// and answers them itself (given-up.ts says why a cancelled call cannot
// check a plugin). A store that ignores its signal writes, deletes, locks or
// lists anyway, and fails.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { PluginStateStore } from "../../proto/plugin-state-store.js";
import type { StateStore, StoreContext } from "../../proto/state-store.js";
import { ConformanceFailure, check, expectCode, rejection, same } from "./assert.js";
import { GIVE_UP_CODE, type GiveUp, abortedSignal, conformanceOperation, operationMetadata } from "./given-up.js";
import { ServedStateStore } from "./served-store.js";
import { type ConformanceCheck, live, sampleState } from "./state-check.js";

/** Records the listing checks save: more than one page of S3's and Cloud Storage's listings (1,000 keys each). */
const MANY = 1200;
/** The page size the kit asks a plugin for when it pages a listing itself. */
const PAGE = 500;

const NOT_REACHED =
  "this store reaches a plugin through the daemon's client alone, which answers a call whose caller has given up itself, " +
  "so the kit cannot check the plugin's own handling: open the store with startPlugin(...).stateStore(...) or servedStateStore(...) " +
  "(@wfctl/plugin-sdk/conformance), which reach the plugin through PluginController.CancelOperation";

/** A context of a caller that has given up, as the store itself sees it, and how to say so in a failure. */
async function givenUp(store: StateStore, why: GiveUp): Promise<{ ctx: StoreContext; where: string }> {
  if (store instanceof ServedStateStore) {
    const operationId = conformanceOperation();
    await store.cancelOperation(operationId, why);
    return {
      ctx: { signal: new AbortController().signal, deadline: new Date(Date.now() + 30_000), metadata: operationMetadata(operationId) },
      where: `in an operation the plugin was told (CancelOperation) ${why === "deadline" ? "ran out of time" : "was cancelled"}`,
    };
  }
  check(!(store instanceof PluginStateStore), NOT_REACHED);
  return { ctx: { signal: abortedSignal(why) }, where: why === "deadline" ? "past its deadline" : "after its caller cancelled" };
}

/** Saves MANY records, a hundred at a time. */
async function saveMany(store: StateStore): Promise<void> {
  for (let i = 0; i < MANY; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => store.saveState(sampleState(`r${String(i + j).padStart(5, "0")}`), live())));
  }
}

/** Every call of a caller that gave up fails with its code, and changes nothing: no record written or deleted, no lock taken or released. */
function refusedOnceGivenUp(why: GiveUp, name: string): ConformanceCheck {
  return {
    name,
    async run(open) {
      const store = await open();
      await store.saveState(sampleState("a"), live());
      const code = GIVE_UP_CODE[why];
      const { ctx, where } = await givenUp(store, why);
      const refused = async (what: string, call: Promise<unknown>) => expectCode(await rejection(call, `${what} ${where}`), [code], `${what} ${where}`);
      await refused("listStates", store.listStates({}, ctx));
      await refused("getState", store.getState("a", ctx));
      await refused("saveState", store.saveState(sampleState("b"), ctx));
      await refused("deleteState", store.deleteState("a", ctx));
      await refused("lock", store.lock("stack", { holder: "gave-up", operation: "apply", version: "v" }, ctx));
      check((await store.getState("b", live())) === undefined, `a saveState ${where} must write nothing, but the record is there`);
      check((await store.getState("a", live())) !== undefined, `a deleteState ${where} must delete nothing, but the record is gone`);
      // The refused lock was not taken: this one is granted. An unlock refused leaves it held.
      const held = await store.lock("stack", { holder: "live", operation: "apply", version: "v" }, live());
      await refused("unlock", store.unlock("stack", held.lockId, ctx));
      const again = await rejection(store.lock("stack", { holder: "other", operation: "apply", version: "v" }, live()), `a lock after an unlock ${where}`);
      expectCode(again, [ErrorCode.LOCK_HELD], `a lock after an unlock ${where} (the unlock must have released nothing)`);
      await store.unlock("stack", held.lockId, live());
    },
  };
}

export const cancellationChecks: readonly ConformanceCheck[] = [
  refusedOnceGivenUp(
    "cancelled",
    "a caller that has given up is refused with CANCELLED by the store itself (over gRPC, by the plugin), and nothing is written, deleted, locked or unlocked",
  ),
  refusedOnceGivenUp(
    "deadline",
    "a call past its deadline is DEADLINE_EXCEEDED from the store itself (over gRPC, from the plugin), and nothing is written, deleted, locked or unlocked",
  ),
  {
    name: "a listing cancelled mid-way fails and never returns part of the records; over gRPC a page holds at most page_size records",
    async run(open) {
      const store = await open();
      await saveMany(store);
      // A listing cancelled at some moment: all of it or CANCELLED, never part.
      for (const delay of [0, 1, 5, 20]) {
        const controller = new AbortController();
        const listing = store.listStates({}, { signal: controller.signal });
        setTimeout(() => controller.abort(new DOMException("stop", "AbortError")), delay);
        try {
          same((await listing).length, MANY, `a listing that was not cancelled in time (after ${delay} ms) must return every record`);
        } catch (err) {
          if (err instanceof ConformanceFailure) throw err;
          expectCode(WfctlError.from(err), [ErrorCode.CANCELLED], `a listing cancelled after ${delay} ms`);
        }
      }
      // The store itself, told before it starts: no records at all, however many it could have read.
      const { ctx, where } = await givenUp(store, "cancelled");
      try {
        const got = await store.listStates({}, ctx);
        throw new ConformanceFailure(`a listing ${where} returned ${got.length} of ${MANY} records: it must fail with CANCELLED`);
      } catch (err) {
        if (err instanceof ConformanceFailure) throw err;
        expectCode(WfctlError.from(err), [ErrorCode.CANCELLED], `a listing ${where}`);
      }
      if (store instanceof ServedStateStore) await nextPageRefused(store);
      same((await store.listStates({}, live())).length, MANY, "a listing after the cancelled ones");
    },
  },
];

/** Over gRPC, paged by the kit: the first page holds at most page_size records, and the next page of an operation cancelled since is refused. */
async function nextPageRefused(store: ServedStateStore): Promise<void> {
  const operationId = conformanceOperation();
  const ctx: StoreContext = { signal: new AbortController().signal, metadata: operationMetadata(operationId) };
  const first = await store.listPage({}, { token: "", size: PAGE }, ctx);
  check(first.states.length <= PAGE, `ListStates with page_size ${PAGE} returned ${first.states.length} records: a page holds at most page_size`);
  check(first.nextPageToken !== "", `ListStates with page_size ${PAGE} of ${MANY} records returned ${first.states.length} and no next_page_token`);
  await store.cancelOperation(operationId, "cancelled");
  const what = "the next page of a listing whose operation was cancelled (CancelOperation) after its first page";
  expectCode(await rejection(store.listPage({}, { token: first.nextPageToken, size: PAGE }, ctx), what), [ErrorCode.CANCELLED], what);
}
