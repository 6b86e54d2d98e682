// The wfctl plugin SDK: everything a plugin author imports.
export { serve, type ServeOptions, type PluginServer } from "./serve.js";
export {
  defineProvider,
  planFromSchema,
  classifyDrift,
  type ProviderDefinition,
  type ResourceType,
  type ResourceRef,
  type PriorResource,
  type AppliedResource,
  type ReadResult,
  type PlanResult,
  type PlanAction,
  type DriftReport,
  type DriftClassName,
} from "./provider.js";
export type { StateBackendDefinition } from "./state-backend.js";
export type { CallContext } from "./context.js";
export type { PluginLogger } from "./logger.js";
export type { FieldSpec, FieldMap, FieldKind } from "../../proto/fields.js";
export type { JsonObject, JsonValue } from "../../proto/json.js";
export type { StateStore, ResourceState, LockInfo, LockRequest, StoreContext } from "../../proto/state-store.js";
export { ErrorCode, WfctlError, type ErrorDetail } from "../../proto/errors.js";
// For state stores: the rules every backend shares (filter keys, cancellation, the LOCK_HELD message).
export { FILTER_KEYS, checkFilter, matchesFilter, throwIfAborted, lockHeldError, unlockRefused, noLockHeld, newLock, unreadableLock, describeLock } from "../../proto/state-store.js";
export { BackendConfig } from "./backend-config.js";
export {
  parseRecord,
  parseNamedRecord,
  recordIdOfName,
  parseLock,
  lockOrUndefined,
  inParallel,
  abortable,
  takeLockObject,
  checkRelease,
  probeConditionalCreate,
  conditionalWritesRequired,
  readListedRecords,
  readListedLocks,
  storeCall,
  type LockObjectOps,
  type ConditionalCreateSupport,
} from "./store-kit.js";
