// The engine's view of the state store: every record it saves has the values
// of its sensitive fields sealed (proto/sealed.ts), so no backend ever holds
// a secret the configuration gave a provider. A field is sensitive when its
// type's schema says so, or when a ${} reference put a sensitive value in it
// (taint: the operation declares those fields, markSensitive). A value
// unchanged since the record was read keeps its seal, so state does not churn.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { FieldMap } from "../../proto/fields.js";
import type { JsonObject } from "../../proto/json.js";
import { isSealed, sealFields } from "../../proto/sealed.js";
import { type LockInfo, type LockRequest, type ResourceState, type StateStore, type StoreContext, withFields } from "../../proto/state-store.js";

/** A record's type schema, or undefined when its provider is not in the configuration. */
export type FieldsOf = (record: ResourceState) => Promise<FieldMap | undefined>;

/** The fields of `config` that hold a seal. */
export function sealedFields(config: JsonObject | undefined): string[] {
  return Object.entries(config ?? {}).flatMap(([name, value]) => (isSealed(value) ? [name] : []));
}

export class SealingStore implements StateStore {
  /** Each record as last read or written, for reusing the seals in its config (read only when a save needs them). */
  private readonly seen = new Map<string, ResourceState>();
  /** Per resource, the fields this operation's plan found holding a sensitive value through a reference. */
  private readonly tainted = new Map<string, ReadonlySet<string>>();

  constructor(
    private readonly inner: StateStore,
    private readonly fieldsOf: FieldsOf,
  ) {}

  /**
   * Declares which top-level fields of `resourceId`'s configuration hold a
   * sensitive value in this operation (from its plan): they are sealed as if
   * the schema marked them, and only they. A resource nothing was declared
   * for (a refresh writes what its provider read) keeps sealed whatever its
   * last record had sealed: a value once sealed never comes back out in plain.
   */
  markSensitive(resourceId: string, fields: Iterable<string>): void {
    this.tainted.set(resourceId, new Set(fields));
  }

  private remember(record: ResourceState): ResourceState {
    this.seen.set(record.resourceId, record);
    return record;
  }

  async getState(resourceId: string, ctx: StoreContext): Promise<ResourceState | undefined> {
    const record = await this.inner.getState(resourceId, ctx);
    return record && this.remember(record);
  }

  async listStates(filter: Readonly<Record<string, string>>, ctx: StoreContext): Promise<ResourceState[]> {
    return (await this.inner.listStates(filter, ctx)).map((record) => this.remember(record));
  }

  async saveState(state: ResourceState, ctx: StoreContext): Promise<void> {
    // No fallback on failure: saving a record unsealed because its schema could not be read would leak it.
    const fields = await this.fieldsOf(state);
    const before = this.seen.get(state.resourceId)?.config;
    const sensitive = new Set(Object.entries(fields ?? {}).flatMap(([name, spec]) => (spec.sensitive ? [name] : [])));
    for (const name of this.tainted.get(state.resourceId) ?? sealedFields(before)) sensitive.add(name);
    const sealed = withFields(state, { config: sealFields(state.config, sensitive, before) });
    await this.inner.saveState(sealed, ctx);
    this.remember(sealed);
  }

  /**
   * Saves a record exactly as it was read, seals included, without its
   * schema: a record renamed (state mv, `moved:`) keeps what it held, and
   * needs no plugin started to be moved.
   */
  async copyRecord(record: ResourceState, ctx: StoreContext): Promise<void> {
    await this.inner.saveState(record, ctx);
    this.remember(record);
  }

  async deleteState(resourceId: string, ctx: StoreContext): Promise<void> {
    await this.inner.deleteState(resourceId, ctx);
    this.seen.delete(resourceId);
  }

  lock(resourceId: string, request: LockRequest, ctx: StoreContext): Promise<LockInfo> {
    return this.inner.lock(resourceId, request, ctx);
  }

  unlock(resourceId: string, lockId: string, ctx: StoreContext, options?: { force?: boolean }): Promise<void> {
    return this.inner.unlock(resourceId, lockId, ctx, options);
  }

  /** The inner store's locks; UNSUPPORTED when it cannot list them (the caller probes with lock). */
  async listLocks(ctx: StoreContext): Promise<LockInfo[]> {
    if (!this.inner.listLocks) throw new WfctlError(ErrorCode.UNSUPPORTED, "this state store does not list its locks");
    return this.inner.listLocks(ctx);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
