// The conformance kits bite: a fault injected into a real plugin (the
// fixtures faulty-state.mjs and faulty-provider.mjs, each fault chosen by
// WFCTL_FIXTURE_FAULT) is caught by the kit check meant to catch it, run
// over gRPC as an author runs it (startPlugin). The same checks pass against
// the fixtures without a fault, so what fails is the fault. Among them,
// issue 20's acceptance check: a state backend that ignores cancellation
// fails the state kit over gRPC (it passed every check before the kit
// reached the plugin).
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConformanceFailure } from "../../plugins/conformance/assert.js";
import { startPlugin, startStateStore } from "../../plugins/conformance/plugin-process.js";
import type { StateStore } from "../../proto/state-store.js";
import { type ProviderSession, openProviderSession, runProviderCheck } from "../../plugins/conformance/provider.js";
import { providerChecks } from "../../plugins/conformance/provider-checks.js";
import { type ConformanceCheck, lockRaceCheck, stateBackendChecks } from "../../plugins/conformance/state-backend.js";
import { localResources } from "../helpers/local-kit.js";
import { FIXTURE_PLUGINS, tempDir } from "../helpers/paths.js";

/** The state check whose name starts with `start`. */
function stateCheck(start: string): ConformanceCheck {
  const found = [...stateBackendChecks, lockRaceCheck].find((c) => c.name.startsWith(start));
  if (!found) throw new Error(`no state-backend check starts with "${start}"`);
  return found;
}

/** Fault → the state check that must catch it, and what its failure says. */
const STATE_FAULTS: readonly { fault: string; check: string; says: RegExp }[] = [
  { fault: "ignores-cancellation", check: "a caller that has given up is refused with CANCELLED", says: /was cancelled: expected an error, but the call succeeded/ },
  { fault: "ignores-deadline", check: "a call past its deadline is DEADLINE_EXCEEDED", says: /ran out of time: expected an error, but the call succeeded/ },
  { fault: "partial-listing", check: "a listing cancelled mid-way fails", says: /returned 600 of 1200 records: it must fail with CANCELLED/ },
  { fault: "ignores-page-size", check: "a listing cancelled mid-way fails", says: /page_size 500 returned 1000 records/ },
  { fault: "lock-held-no-trailer", check: "lock contention fails at once", says: /expected LOCK_HELD, got UNKNOWN/ },
  { fault: "lock-not-exclusive", check: "lock contention fails at once", says: /a second lock: expected an error, but the call succeeded/ },
  { fault: "lock-held-vague", check: "lock contention fails at once", says: /a second lock: LOCK_HELD must carry the lock held in its details/ },
  { fault: "lock-race", check: "of 12 racing lockers exactly one wins", says: /exactly one racing lock must win, 12 did/ },
  { fault: "unlock-any-id", check: "unlock with another id is LOCK_HELD", says: /unlock with another id: expected an error, but the call succeeded/ },
  { fault: "unlock-unheld-ok", check: "not found:", says: /unlock with no lock held: expected an error, but the call succeeded/ },
  { fault: "lock-as-record", check: "locks are apart from records", says: /locks must not appear as records/ },
  { fault: "save-keeps-old", check: "SaveState is a full replace", says: /the record after a replace and a retry/ },
  { fault: "save-merges", check: "SaveState is a full replace", says: /the record after a replace and a retry/ },
  { fault: "drops-depends-on", check: "round-trips a record exactly", says: /getState after saveState/ },
  { fault: "list-ignores-filter", check: "lists with a filter", says: /filter on resource_type/ },
  { fault: "delete-missing-fails", check: "deletes a record", says: /deleteState of a record deleted already \(it is not an error\) failed with NOT_FOUND/ },
];

/** Fault → the provider check (slug) that must catch it, on which type, and what its failure says. */
const PROVIDER_FAULTS: readonly { fault: string; type: string; check: string; says: RegExp }[] = [
  { fault: "ignores-cancellation", type: "local.file", check: "cancelled", says: /was cancelled: expected an error, but the call succeeded/ },
  { fault: "ignores-deadline", type: "local.file", check: "deadline", says: /ran out of time: expected an error, but the call succeeded/ },
  { fault: "plan-noop-after-change", type: "local.file", check: "update", says: /expected UPDATE, got NOOP/ },
  { fault: "plan-noop-after-change", type: "local.file", check: "config-drift", says: /Plan after outOfBandChange of "content", against what Read observes: expected UPDATE, got NOOP/ },
  { fault: "plan-replaces-update", type: "local.file", check: "update", says: /expected UPDATE, got REPLACE/ },
  { fault: "plan-unmasked", type: "local.sensitive_file", check: "create", says: /content is not marked sensitive/ },
  { fault: "apply-ignores-field", type: "local.file", check: "update", says: /Read after Apply UPDATE: the configuration read differs from the one applied: content/ },
  { fault: "apply-ignores-field", type: "local.directory", check: "config-drift", says: /Read after Apply UPDATE put "mode" back: the configuration read differs/ },
  { fault: "read-reports-old", type: "local.file", check: "config-drift", says: /Read after outOfBandChange of "content" reports "one\\n", not the value the resource has now/ },
  { fault: "read-finds-ghost", type: "local.file", check: "drift", says: /Read after outOfBandDelete: Read still finds it/ },
  { fault: "drift-always-in-sync", type: "local.file", check: "drift", says: /DetectDrift after outOfBandDelete: expected GHOST, got IN_SYNC/ },
  { fault: "drift-always-in-sync", type: "local.directory", check: "config-drift", says: /DetectDrift after outOfBandChange of "mode": expected CONFIG, got IN_SYNC/ },
  { fault: "create-empty-id", type: "local.file", check: "create", says: /Apply CREATE returned an empty provider_id/ },
  { fault: "delete-gone-fails", type: "local.file", check: "delete", says: /Apply DELETE of a resource already deleted failed with NOT_FOUND/ },
];

/** What a check threw: a ConformanceFailure, never a crash of the kit. */
async function failureOf(run: Promise<void>): Promise<ConformanceFailure> {
  try {
    await run;
  } catch (err) {
    expect(err, (err as Error).stack).toBeInstanceOf(ConformanceFailure);
    return err as ConformanceFailure;
  }
  throw new Error("the check passed");
}

let namespaces = 0;

/**
 * Runs `check` as the kit's vitest runner does: each store it opens is a
 * faulty-state plugin process of its own, configured once (as wfctld runs
 * one per backend configuration and namespace), all stopped afterwards.
 */
async function runStateCheck(check: ConformanceCheck, fault: string): Promise<void> {
  const stores: StateStore[] = [];
  try {
    await check.run(async () => {
      const store = await startStateStore({ source: join(FIXTURE_PLUGINS, "faulty-state.mjs"), env: { WFCTL_FIXTURE_FAULT: fault } }, { backend: "faulty", namespace: `kit-${++namespaces}` });
      stores.push(store);
      return store;
    });
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
}

describe("the state-backend kit catches a fault injected into a state plugin", () => {
  it("without a fault, every check passes (so a failure below is the fault's)", async () => {
    for (const check of [...stateBackendChecks, lockRaceCheck]) await runStateCheck(check, "none");
  }, 120_000);

  for (const { fault, check, says } of STATE_FAULTS) {
    it(`${fault}: caught by "${check}…"`, async () => {
      expect((await failureOf(runStateCheck(stateCheck(check), fault))).message).toMatch(says);
    }, 60_000);
  }
});

describe("the provider kit catches a fault injected into a provider plugin", () => {
  const dir = tempDir("wft-kitmut-");
  afterAll(() => dir.cleanup());
  let roots = 0;

  /** Runs `use` with a session of the faulty provider (a root of its own), then stops it. */
  async function withProvider(fault: string, use: (session: ProviderSession) => Promise<void>): Promise<void> {
    const plugin = await startPlugin({ source: join(FIXTURE_PLUGINS, "faulty-provider.mjs"), env: { WFCTL_FIXTURE_FAULT: fault } });
    try {
      await use(await openProviderSession(plugin.provider({ config: { root: `root-${++roots}` }, workingDir: dir.path })));
    } finally {
      await plugin.stop();
    }
  }

  it("without a fault, every check passes for every type (so a failure below is the fault's)", async () => {
    await withProvider("none", async (session) => {
      for (const [type, fixture] of Object.entries(localResources)) {
        for (const check of providerChecks) await runProviderCheck(session, type, fixture, check);
      }
    });
  }, 120_000);

  for (const { fault, type, check, says } of PROVIDER_FAULTS) {
    it(`${fault}: caught by "${check}" on ${type}`, async () => {
      const providerCheck = providerChecks.find((c) => c.slug === check);
      const fixture = localResources[type];
      if (!providerCheck || !fixture) throw new Error(`no check "${check}" or fixture "${type}"`);
      await withProvider(fault, async (session) => {
        expect((await failureOf(runProviderCheck(session, type, fixture, providerCheck))).message).toMatch(says);
      });
    }, 60_000);
  }
});
