// Binds wfctl's generated protobuf-es descriptors to @grpc/grpc-js, for the
// plugin boundary: service definitions with protobuf-es (de)serializers, typed
// unary clients and servers, and WfctlError <-> gRPC status translation. One
// generated message set serves both this and the Connect socket API.
import * as grpc from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { DEADLINE_SLACK_MS, ERROR_CODE_KEY, ErrorCode, WfctlError, abortError, codeFromWire, grpcStatusOf } from "./errors.js";
import { ERROR_DETAILS_KEY, LEGACY_OMITTED_KEY, decodeErrorDetails, detailsMetadata } from "./error-details.js";
import { MAX_MESSAGE_BYTES } from "./versions.js";

type AnyMessage = MessageShape<DescMessage>;

/** Channel options used on both sides of the plugin boundary. */
export const GRPC_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
  "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
};

function serializer(desc: DescMessage): (value: AnyMessage) => Buffer {
  return (value) => {
    const bytes = toBinary(desc, value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(desc: DescMessage): (bytes: Buffer) => AnyMessage {
  return (bytes) => fromBinary(desc, bytes);
}

/** The `/package.Service/Method` path gRPC uses on the wire. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** A grpc-js service definition for a generated service descriptor. */
export function serviceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<AnyMessage, AnyMessage>> = {};
  for (const method of service.methods) {
    definition[method.name] = {
      path: methodPath(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    };
  }
  return definition as grpc.ServiceDefinition;
}

// ---------------------------------------------------------------------------
// Errors across the boundary

/** A WfctlError as a grpc-js status object: its code and details (the lock held, problems) travel in metadata (trailers). */
export function toGrpcStatus(err: unknown): Partial<grpc.StatusObject> & { code: grpc.status } {
  const error = WfctlError.from(err);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_KEY, error.code);
  for (const [key, value] of detailsMetadata(error)) metadata.set(key, value);
  return { code: grpcStatusOf(error.code) as grpc.status, details: error.message, metadata };
}

function metadataString(metadata: grpc.Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return typeof value === "string" ? value : undefined;
}

/** A grpc-js call error as a WfctlError, keeping the peer's wfctl code. */
export function fromGrpcError(err: unknown): WfctlError {
  if (err instanceof WfctlError) return err;
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e.code !== "number") return WfctlError.from(err);
  const code = codeFromWire(e.code, metadataString(e.metadata, ERROR_CODE_KEY));
  const message = e.details || e.message || `gRPC status ${e.code}`;
  return new WfctlError(code, message, {
    cause: err,
    ...decodeErrorDetails(metadataString(e.metadata, ERROR_DETAILS_KEY), metadataString(e.metadata, LEGACY_OMITTED_KEY)),
  });
}

// ---------------------------------------------------------------------------
// Clients

/** Per-call options: the caller's cancellation, deadline and request metadata. */
export interface CallOptions {
  /** Aborting it cancels the call; the peer sees the cancellation. */
  signal?: AbortSignal;
  /** Absolute deadline; the peer sees it as the call's deadline. */
  deadline?: Date;
  /** Request metadata (ASCII keys and values). */
  metadata?: Record<string, string>;
  /**
   * For a call whose answer must not be lost (a change being made): when
   * `signal` aborts, `notify` tells the peer to stop (it still answers), and
   * the call is cancelled only if no answer came within `graceMs`. Without
   * it, aborting cancels the call at once.
   */
  onAbort?: { graceMs: number; notify: (reason: unknown) => void };
}

type UnaryMethodOf<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
  : never;

/** A typed client for the unary methods of a service. */
export type UnaryClient<S extends DescService> = {
  [K in keyof S["method"] as S["method"][K] extends { methodKind: "unary" } ? K : never]: UnaryMethodOf<S["method"][K]>;
};

/** Opens a grpc-js connection to `address` (e.g. `unix:///path/plugin.sock`). */
export function connect(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), GRPC_CHANNEL_OPTIONS);
}

/** Calls one unary method over `connection`, honouring signal and deadline. */
export function callUnary<I extends DescMessage, O extends DescMessage>(
  connection: grpc.Client,
  method: DescMethod & { input: I; output: O },
  request: MessageInitShape<I>,
  options: CallOptions = {},
): Promise<MessageShape<O>> {
  const { signal, onAbort: graceful } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  const message = create(method.input, request) as AnyMessage;
  return new Promise((resolve, reject) => {
    let graceTimer: NodeJS.Timeout | undefined;
    let unanswered = false;
    const onAbort = () => {
      if (!graceful) {
        call.cancel();
        return;
      }
      try {
        graceful.notify(signal?.reason);
      } catch {
        // Telling the peer is best effort: the grace below still bounds the wait.
      }
      graceTimer = setTimeout(() => {
        unanswered = true;
        call.cancel();
      }, graceful.graceMs);
    };
    const call = connection.makeUnaryRequest(
      methodPath(method),
      serializer(method.input),
      deserializer(method.output),
      message,
      metadata,
      options.deadline ? { deadline: options.deadline } : {},
      (err, response) => {
        signal?.removeEventListener("abort", onAbort);
        if (graceTimer) clearTimeout(graceTimer);
        // An answer that came after the abort is still the answer: the work it reports was done.
        if (!err) resolve(response as MessageShape<O>);
        else if (unanswered) reject(new WfctlError(ErrorCode.UNKNOWN, `no answer within ${graceful?.graceMs ?? 0} ms after the call was stopped (${abortError(signal as AbortSignal).message}); its outcome is unknown`, { cause: err }));
        else if (signal?.aborted && !graceful) reject(abortError(signal));
        else reject(fromGrpcError(err));
      },
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A typed client for every unary method of `service`, sharing one connection. */
export function unaryClient<S extends DescService>(service: S, connection: grpc.Client): UnaryClient<S> {
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    client[method.localName] = (request: MessageInitShape<DescMessage>, options?: CallOptions) =>
      callUnary(connection, method, request, options);
  }
  return client as UnaryClient<S>;
}

// ---------------------------------------------------------------------------
// Servers

/** What a unary handler knows about its call. */
export interface ServerCallContext {
  /** Aborted when the caller cancels or the call's deadline passes. */
  signal: AbortSignal;
  /** The caller's deadline, if it set one. */
  deadline: Date | undefined;
  /** Request metadata (string values only). */
  metadata: Record<string, string>;
  /** `/package.Service/Method`. */
  method: string;
}

type UnaryHandlerOf<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? (request: MessageShape<I>, context: ServerCallContext) => Promise<MessageInitShape<O>>
  : never;

/** Handlers for every unary method of a service. */
export type UnaryHandlers<S extends DescService> = {
  [K in keyof S["method"] as S["method"][K] extends { methodKind: "unary" } ? K : never]: UnaryHandlerOf<S["method"][K]>;
};

/** Wraps each handler call: logging, tracing, error reporting. */
export type ServerInterceptor = (context: ServerCallContext, next: () => Promise<unknown>) => Promise<unknown>;

function callDeadline(call: grpc.ServerUnaryCall<unknown, unknown>): Date | undefined {
  const deadline = call.getDeadline();
  if (deadline instanceof Date) return deadline;
  return Number.isFinite(deadline) ? new Date(deadline) : undefined;
}

function serverContext(call: grpc.ServerUnaryCall<unknown, unknown>, method: string): { context: ServerCallContext; done: () => void } {
  const controller = new AbortController();
  const deadline = callDeadline(call);
  const timeoutReason = () => new DOMException(`deadline exceeded for ${method}`, "TimeoutError");
  let timer: NodeJS.Timeout | undefined;
  if (deadline) {
    const ms = deadline.getTime() - Date.now();
    if (ms <= 0) controller.abort(timeoutReason());
    else timer = setTimeout(() => controller.abort(timeoutReason()), ms);
  }
  const onCancel = () => {
    // The deadline crosses the wire as a relative timeout, so this side's copy
    // runs a little late: a cancellation this close to it is the deadline.
    const expired = deadline !== undefined && deadline.getTime() - Date.now() <= DEADLINE_SLACK_MS;
    controller.abort(expired ? timeoutReason() : new DOMException(`call cancelled by the caller: ${method}`, "AbortError"));
  };
  call.on("cancelled", onCancel);
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(call.metadata.getMap())) {
    if (typeof value === "string") metadata[key] = value;
  }
  return {
    context: { signal: controller.signal, deadline, metadata, method },
    done: () => {
      if (timer) clearTimeout(timer);
      call.removeListener("cancelled", onCancel);
    },
  };
}

/** grpc-js implementations for the unary methods of `service`. */
export function unaryImplementation<S extends DescService>(
  service: S,
  handlers: UnaryHandlers<S>,
  interceptor?: ServerInterceptor,
): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  const table = handlers as unknown as Record<string, (request: unknown, context: ServerCallContext) => Promise<unknown>>;
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const handler = table[method.localName];
    if (!handler) throw new Error(`no handler for ${method.parent.typeName}.${method.name}`);
    const path = methodPath(method);
    const unary: grpc.handleUnaryCall<AnyMessage, AnyMessage> = (call, callback) => {
      const { context, done } = serverContext(call as grpc.ServerUnaryCall<unknown, unknown>, path);
      const run = () => handler(call.request, context);
      (interceptor ? interceptor(context, run) : run())
        .then((result) => callback(null, create(method.output, result as MessageInitShape<DescMessage>) as AnyMessage))
        .catch((err: unknown) => {
          const aborted = context.signal.aborted && !(err instanceof WfctlError) ? abortError(context.signal) : err;
          callback(toGrpcStatus(aborted));
        })
        .finally(done);
    };
    implementation[method.name] = unary;
  }
  return implementation;
}
