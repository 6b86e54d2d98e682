// Reads, plans and drift detections in batches: the Read, Plan and
// DetectDrift calls an operation makes to one provider in the same turn of
// the event loop (a plan or a drift detection of many resources issues them
// together) go out as one ReadResources, PlanResources or DetectDrifts call
// when the plugin serves IaCBatchProvider, and one by one when it does not.
// Callers still make (and await) single calls; each gets its own item's
// answer or error, as its single call would have.
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { fromCallError } from "../../proto/call-error.js";
import { ErrorCode, WfctlError, abortError } from "../../proto/errors.js";
import type { CallError } from "../../proto/gen/wfctl/plugin/v1/errors_pb.js";
import {
  type DetectDriftRequestSchema,
  type DetectDriftResponseSchema,
  IaCBatchProvider,
  IaCDriftDetector,
  type IaCProvider,
  type PlanResourceRequestSchema,
  type PlanResourceResponseSchema,
  type ReadResourceRequestSchema,
  type ReadResourceResponseSchema,
} from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { CallOptions, UnaryClient } from "../../proto/grpc.js";
import type { PluginInstance } from "../supervisor/instance.js";

/** At most this many items, and about this many bytes of them, go in one batch call. */
export const BATCH_LIMITS = { items: 256, bytes: 4 * 1024 * 1024 } as const;
/** How many resources of one batching provider an operation reads, plans or examines at once: enough to fill its batches. */
export const BATCHED_AT_ONCE = BATCH_LIMITS.items * 4;

interface Waiting<I extends DescMessage, O extends DescMessage> {
  request: MessageInitShape<I>;
  options: CallOptions;
  resolve: (response: MessageShape<O>) => void;
  reject: (err: unknown) => void;
}

type ItemResult<O extends DescMessage> = { result: { case: "response"; value: MessageShape<O> } | { case: "error"; value: CallError } | { case: undefined; value?: undefined } };

/** How one kind of call is batched: its single call, its batch call, and its method names. */
interface BatchKind<I extends DescMessage, O extends DescMessage> {
  single: (request: MessageInitShape<I>, options: CallOptions) => Promise<MessageShape<O>>;
  batch: (items: MessageInitShape<I>[], options: CallOptions) => Promise<ItemResult<O>[]>;
  method: string;
  /** Roughly what an item weighs on the wire. */
  size: (request: MessageInitShape<I>) => number;
}

const priorBytes = (prior: { configJson?: Uint8Array; outputsJson?: Uint8Array } | undefined) =>
  (prior?.configJson?.byteLength ?? 0) + (prior?.outputsJson?.byteLength ?? 0);

/** The items of one batch must share what the call carries: the operation's signal and metadata. */
function sameCall(a: CallOptions, b: CallOptions): boolean {
  if (a.signal !== b.signal) return false;
  const ma = a.metadata ?? {};
  const mb = b.metadata ?? {};
  const keys = Object.keys(ma);
  return keys.length === Object.keys(mb).length && keys.every((k) => ma[k] === mb[k]);
}

/** Splits `waiting` into groups that may share a call, each cut to BATCH_LIMITS. */
export function batchesOf<W extends { request: unknown; options: CallOptions }>(waiting: W[], size: (request: W["request"]) => number): W[][] {
  const groups: W[][] = [];
  for (const item of waiting) {
    const group = groups.find((g) => sameCall((g[0] as W).options, item.options));
    if (group) group.push(item);
    else groups.push([item]);
  }
  const batches: W[][] = [];
  for (const group of groups) {
    let batch: W[] = [];
    let bytes = 0;
    for (const item of group) {
      const weight = size(item.request);
      if (batch.length > 0 && (batch.length >= BATCH_LIMITS.items || bytes + weight > BATCH_LIMITS.bytes)) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(item);
      bytes += weight;
    }
    if (batch.length > 0) batches.push(batch);
  }
  return batches;
}

/** The latest deadline of `batch` (each item's own is the operation's, or the per-call limit from when it was made). */
function latestDeadline(batch: readonly { options: CallOptions }[]): Date | undefined {
  let latest: Date | undefined;
  for (const { options } of batch) {
    if (!options.deadline) return undefined;
    if (!latest || options.deadline > latest) latest = options.deadline;
  }
  return latest;
}

class Batcher<I extends DescMessage, O extends DescMessage> {
  private waiting: Waiting<I, O>[] = [];
  /** Set once the plugin turned a batch call down as unimplemented: single calls from then on. */
  private unsupported = false;

  constructor(
    private readonly instance: PluginInstance,
    private readonly kind: BatchKind<I, O>,
  ) {}

  call(request: MessageInitShape<I>, options: CallOptions = {}): Promise<MessageShape<O>> {
    if (this.unsupported || !this.instance.serves(IaCBatchProvider)) return this.kind.single(request, options);
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) setImmediate(() => this.flush());
      this.waiting.push({ request, options, resolve, reject });
    });
  }

  private flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    const live = waiting.filter((w) => {
      if (!w.options.signal?.aborted) return true;
      w.reject(abortError(w.options.signal));
      return false;
    });
    for (const batch of batchesOf(live, this.kind.size)) this.send(batch);
  }

  /** Sends one batch; every item settles, whatever happens. */
  private send(batch: Waiting<I, O>[]): void {
    const [first] = batch;
    if (!first) return;
    if (batch.length === 1 || this.unsupported) {
      for (const item of batch) this.kind.single(item.request, item.options).then(item.resolve, item.reject);
      return;
    }
    const options: CallOptions = { signal: first.options.signal, deadline: latestDeadline(batch), metadata: first.options.metadata };
    this.kind.batch(batch.map((item) => item.request), options).then(
      (results) => {
        try {
          this.settle(batch, results);
        } catch (err) {
          // An answer that cannot be read still settles every caller (settling twice is a no-op).
          for (const item of batch) item.reject(err);
        }
      },
      (err: unknown) => {
        if (err instanceof WfctlError && err.code === ErrorCode.UNSUPPORTED) {
          // It registered the service but does not implement this method: the single calls it does.
          this.unsupported = true;
          this.send(batch);
          return;
        }
        for (const item of batch) item.reject(err);
      },
    );
  }

  private settle(batch: Waiting<I, O>[], results: ItemResult<O>[]): void {
    if (results.length !== batch.length) {
      const error = new WfctlError(ErrorCode.PROVIDER_ERROR, `${this.instance.who}: ${this.kind.method} answered ${results.length} result(s) for ${batch.length} item(s)`);
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const { result } = results[i] as ItemResult<O>;
      if (result.case === "response") item.resolve(result.value);
      else if (result.case === "error") item.reject(this.instance.explain(fromCallError(result.value), this.kind.method));
      else item.reject(new WfctlError(ErrorCode.PROVIDER_ERROR, `${this.instance.who}: ${this.kind.method} answered item ${i} with neither a response nor an error`));
    });
  }
}

/**
 * `client` (the instance's IaCProvider client) with Read and Plan batched
 * whenever the plugin serves IaCBatchProvider.
 */
export function batchingClient(instance: PluginInstance, client: UnaryClient<typeof IaCProvider>): UnaryClient<typeof IaCProvider> {
  const batches = () => instance.client(IaCBatchProvider);
  const reads = new Batcher<typeof ReadResourceRequestSchema, typeof ReadResourceResponseSchema>(instance, {
    single: (request, options) => client.read(request, options),
    batch: async (items, options) => (await batches().readResources({ items }, options)).results as ItemResult<typeof ReadResourceResponseSchema>[],
    method: "IaCBatchProvider.readResources",
    size: (request) => priorBytes(request.prior) + 256,
  });
  const plans = new Batcher<typeof PlanResourceRequestSchema, typeof PlanResourceResponseSchema>(instance, {
    single: (request, options) => client.plan(request, options),
    batch: async (items, options) => (await batches().planResources({ items }, options)).results as ItemResult<typeof PlanResourceResponseSchema>[],
    method: "IaCBatchProvider.planResources",
    size: (request) => priorBytes(request.prior) + (request.desiredConfigJson?.byteLength ?? 0) + 256,
  });
  return { ...client, read: (request, options) => reads.call(request, options), plan: (request, options) => plans.call(request, options) };
}

/** One DetectDrift call: the single call's request and answer. */
export type DetectDriftCall = (request: MessageInitShape<typeof DetectDriftRequestSchema>, options: CallOptions) => Promise<MessageShape<typeof DetectDriftResponseSchema>>;

/**
 * The instance's IaCDriftDetector.detectDrift, batched as DetectDrifts
 * whenever the plugin serves IaCBatchProvider; single calls to one that does
 * not, or that turns DetectDrifts down as unimplemented.
 */
export function batchingDriftDetector(instance: PluginInstance): DetectDriftCall {
  const single = instance.client(IaCDriftDetector);
  const drifts = new Batcher<typeof DetectDriftRequestSchema, typeof DetectDriftResponseSchema>(instance, {
    single: (request, options) => single.detectDrift(request, options),
    batch: async (items, options) => (await instance.client(IaCBatchProvider).detectDrifts({ items }, options)).results as ItemResult<typeof DetectDriftResponseSchema>[],
    method: "IaCBatchProvider.detectDrifts",
    size: (request) => priorBytes(request.prior) + 256,
  });
  return (request, options) => drifts.call(request, options);
}
