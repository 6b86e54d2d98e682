// The conformance kits as vitest suites: one test per check. A plugin author
// runs the state-backend kit against their own store (or, through wfctl's
// plugin adapter, against a plugin executable in any language), and the
// provider kit against a provider plugin over gRPC.
import { afterAll, beforeAll, describe, it } from "vitest";
import type { StateStore } from "../../proto/state-store.js";
import { type ProviderConformanceSetup, type ProviderSession, type ProviderUnderTest, openProviderSession, runProviderCheck } from "./provider.js";
import { providerChecks } from "./provider-checks.js";
import { type ConformanceCheck, lockRaceCheck, stateBackendChecks } from "./state-backend.js";

/**
 * Runs one check, then closes every store it opened (a plugin's store stops
 * its process): a failed close fails a check that passed.
 */
async function runClosing(check: ConformanceCheck, open: () => Promise<StateStore>): Promise<void> {
  const opened: StateStore[] = [];
  let failure: unknown;
  try {
    await check.run(async () => {
      const store = await open();
      opened.push(store);
      return store;
    });
  } catch (err) {
    failure = err;
  }
  for (const store of opened) {
    try {
      await store.close();
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== undefined) throw failure;
}

/**
 * Registers every check under `describe(name)`; `open` gives a fresh, empty
 * store each time, which is closed after the check. `atomicLocks: false`
 * leaves out the lock race, for a store running a check-then-write locking
 * fallback.
 */
export function describeStateBackendConformance(name: string, open: () => Promise<StateStore>, options: { timeoutMs?: number; atomicLocks?: boolean } = {}): void {
  describe(`state backend conformance: ${name}`, () => {
    for (const check of options.atomicLocks === false ? stateBackendChecks : [...stateBackendChecks, lockRaceCheck]) {
      it(check.name, () => runClosing(check, open), options.timeoutMs ?? 60_000);
    }
  });
}

/**
 * Registers every provider check for each resource type of
 * `setup.resources`, under `describe(name)`. `setup.connect` runs once,
 * before the checks; the kit then calls GetSchema and Configure, as the
 * daemon does, and `close` after the last check.
 */
export function describeProviderConformance(name: string, setup: ProviderConformanceSetup, options: { timeoutMs?: number } = {}): void {
  const timeoutMs = options.timeoutMs ?? 60_000;
  describe(`provider conformance: ${name}`, () => {
    let under: ProviderUnderTest | undefined;
    let session: ProviderSession | undefined;
    beforeAll(async () => {
      under = await setup.connect();
      session = await openProviderSession(under);
    }, timeoutMs);
    afterAll(() => under?.close?.(), timeoutMs);
    for (const [type, fixture] of Object.entries(setup.resources)) {
      describe(type, () => {
        for (const check of providerChecks.filter((c) => c.appliesTo?.(fixture) ?? true)) {
          it(check.name, () => {
            if (!session) throw new Error(`provider "${name}" could not be opened: see the failure of its setup`);
            return runProviderCheck(session, type, fixture, check);
          }, timeoutMs);
        }
      });
    }
  });
}
