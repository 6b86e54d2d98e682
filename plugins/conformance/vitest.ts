// The state-backend conformance kit as a vitest suite: one test per check.
// A plugin author runs it against their own store (or, through wfctl's
// plugin adapter, against a plugin executable in any language).
import { describe, it } from "vitest";
import type { StateStore } from "../../proto/state-store.js";
import { lockRaceCheck, stateBackendChecks } from "./state-backend.js";

/**
 * Registers every check under `describe(name)`; `open` gives a fresh, empty
 * store each time. `atomicLocks: false` leaves out the lock race, for a
 * store running a check-then-write locking fallback.
 */
export function describeStateBackendConformance(name: string, open: () => Promise<StateStore>, options: { timeoutMs?: number; atomicLocks?: boolean } = {}): void {
  describe(`state backend conformance: ${name}`, () => {
    for (const check of options.atomicLocks === false ? stateBackendChecks : [...stateBackendChecks, lockRaceCheck]) {
      it(check.name, () => check.run(open), options.timeoutMs ?? 60_000);
    }
  });
}
