// Recording what an apply's changes did. Every state write of a change goes
// through here: the intent before a change (so even a killed daemon
// leaves a trace the next plan reads), and the result after. The first write
// that fails stops the operation at once (no change starts after it); a
// result is retried with backoff; a result that still cannot be written is
// listed, with the provider id, so an operator can act on it.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type ResourceState, type StateStore, storeTimeout } from "../../proto/state-store.js";
import type { OperationContext } from "./context.js";

/** A change that was made (or may have been) but whose result state does not hold. */
export interface UnrecordedChange {
  name: string;
  type: string;
  action: "create" | "update" | "delete";
  /** The provider's id for the resource ("" when the provider never said). */
  providerId: string;
  /** What state holds for it instead. */
  recordedAs: string;
  error: string;
}

/** Waits between attempts to write a result: about 4 s in all, so a failing store ends the apply within seconds. */
const RETRY_DELAYS_MS = [250, 500, 1_000, 2_000];
/** Each write attempt's own limit: writes finish even when the operation is cancelled. */
const WRITE_TIMEOUT_MS = 15_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class StateRecorder {
  readonly unrecorded: UnrecordedChange[] = [];
  private firstFailure: WfctlError | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly ctx: OperationContext,
    /** Called once, at the first failed write: the operation starts nothing more. */
    private readonly onFailure: (error: WfctlError) => void,
    /** Waits between attempts at a result (tests shorten them). */
    private readonly retryDelaysMs: readonly number[] = RETRY_DELAYS_MS,
  ) {}

  /** The first write that failed, if one did. */
  get failure(): WfctlError | undefined {
    return this.firstFailure;
  }

  /** Writes the record of a change about to start; one try, since on failure the change does not start. */
  async intent(record: ResourceState): Promise<void> {
    await this.attempt(() => this.store.saveState(record, storeTimeout(WRITE_TIMEOUT_MS)), record);
  }

  /** Best effort, for bookkeeping whose failure leaves state still true (an intent withdrawn, a failed update noted). */
  async note(record: ResourceState): Promise<void> {
    await this.persist(() => this.store.saveState(record, storeTimeout(WRITE_TIMEOUT_MS)), record).catch(() => {});
  }

  /** Best effort removal of a record whose change did not happen (an intent withdrawn). */
  async forget(record: ResourceState): Promise<void> {
    await this.persist(() => this.store.deleteState(record.resourceId, storeTimeout(WRITE_TIMEOUT_MS)), record).catch(() => {});
  }

  /** Writes the result of a change that was made; if it cannot, lists `change` as unrecorded and throws. */
  async result(record: ResourceState, change: Omit<UnrecordedChange, "error" | "name" | "type">): Promise<void> {
    await this.persistOrList(() => this.store.saveState(record, storeTimeout(WRITE_TIMEOUT_MS)), record, change);
  }

  /** Removes the record of a resource that was deleted; if it cannot, lists it as unrecorded and throws. */
  async removal(record: ResourceState, change: Omit<UnrecordedChange, "error" | "name" | "type">): Promise<void> {
    await this.persistOrList(() => this.store.deleteState(record.resourceId, storeTimeout(WRITE_TIMEOUT_MS)), record, change);
  }

  private async persistOrList(write: () => Promise<void>, record: ResourceState, change: Omit<UnrecordedChange, "error" | "name" | "type">): Promise<void> {
    try {
      await this.persist(write, record);
    } catch (err) {
      const error = WfctlError.from(err);
      this.unrecorded.push({ ...change, name: record.resourceId, type: record.resourceType, error: error.message });
      throw new WfctlError(
        ErrorCode.STATE_WRITE_FAILED,
        `${record.resourceId}: the ${change.action} was made${change.providerId ? ` (provider id ${change.providerId})` : ""}, but its record could not be written: ${error.message}; state holds ${change.recordedAs}`,
        { cause: err },
      );
    }
  }

  /** One write, retried with backoff; the first failure stops the operation. */
  private async persist(write: () => Promise<void>, record: ResourceState): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.attempt(write, record);
        return;
      } catch (err) {
        const delay = this.retryDelaysMs[attempt];
        if (delay === undefined) throw err;
        await sleep(delay);
      }
    }
  }

  private async attempt(write: () => Promise<void>, record: ResourceState): Promise<void> {
    try {
      await write();
    } catch (err) {
      const error = WfctlError.from(err);
      if (!this.firstFailure) {
        this.firstFailure = error;
        this.ctx.log.error({ resource: record.resourceId, code: error.code, err: error.message }, "a state write failed: no change starts after this one");
        this.ctx.emit({ kind: "resource", phase: "failed", name: record.resourceId, type: record.resourceType, action: "record", errorCode: error.code, message: `state write failed: ${error.message}` });
        this.onFailure(error);
      }
      throw error;
    }
  }
}

/** The error that ends an operation whose state writes failed, listing what exists but is not recorded. */
export function stateWriteFailure(first: WfctlError, unrecorded: readonly UnrecordedChange[], backend: string): WfctlError {
  const lines = unrecorded.map(
    (u) => `  - ${u.name} (${u.type}): ${u.action}d${u.providerId ? `, provider id ${u.providerId}` : ""}; state holds ${u.recordedAs}`,
  );
  const listed =
    unrecorded.length === 0
      ? "Every change that was made is recorded."
      : `${unrecorded.length} change(s) were made but their results are not recorded:\n${lines.join("\n")}\n` +
        "Pending records are read again before the next plan, so once the store works, `wfctl infra apply` picks them up.";
  return new WfctlError(
    ErrorCode.STATE_WRITE_FAILED,
    `writing state to ${backend} failed (${first.message}); the operation stopped and started no change after the first failed write. ${listed}`,
    { cause: first },
  );
}
