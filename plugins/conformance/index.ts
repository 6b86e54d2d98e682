// The conformance kits without a test runner: the checks a provider and a
// state backend must pass, and startPlugin, which starts a plugin executable
// the way wfctld does so they can check it over gRPC. `./vitest.ts`
// registers the checks as vitest tests; another runner can use these.
export { ConformanceFailure } from "./assert.js";
export { PluginProcess, startPlugin, startStateStore, type PluginCommand, type PluginIdentity, type StateStoreOptions } from "./plugin-process.js";
export { providerChecks } from "./provider-checks.js";
export {
  openProviderSession,
  runProviderCheck,
  type ConfigFor,
  type CreatedResource,
  type OutOfBandChange,
  type ProviderCheck,
  type ProviderConformanceSetup,
  type ProviderSession,
  type ProviderUnderTest,
  type ResourceFixture,
  type ResourceUnderTest,
} from "./provider.js";
export { largeOutputs, lockRaceCheck, sampleState, stateBackendChecks, type ConformanceCheck } from "./state-backend.js";
export { ServedStateStore, servedStateStore } from "./served-store.js";
