// The socket's Connect adapter: what connect-node's connectNodeAdapter does
// (route by path, run the universal handler, write its answer), plus what it
// lacks. A binary request that is not valid protobuf is the caller's error:
// Connect reports it as its own ("parse binary: …", INTERNAL, HTTP 500), so
// the body is checked on its way in and the call fails with INVALID_ARGUMENT
// naming what is wrong. And a request Connect cannot even describe (no Host
// header, an authority no URL takes) is answered 400 instead of throwing out
// of the request listener.
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { type ConnectRouterOptions, type ContextValues, type Interceptor, createConnectRouter, createContextKey, createContextValues } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { ErrorCode, WfctlError } from "../../proto/errors.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Why the request's message is not valid protobuf; set by the body check, read by refuseMalformed. */
const malformedKey = createContextKey<string | undefined>(undefined, { description: "why the request body is not valid protobuf" });

/** Content types whose body is checked: enveloped ones (length-prefixed messages: Connect streaming, gRPC, gRPC-web), and bare binary messages (Connect unary). */
const CHECKED = /^application\/(proto|connect\+(?:proto|json)|grpc(?:-web)?(?:\+(?:proto|json))?)\s*(;|$)/i;

/**
 * Fails a call whose binary request did not parse, before any handler sees
 * it (the message it got is empty). A unary call's body is read before the
 * interceptors run; a streamed call's as its handler takes its message, so
 * there the check comes with each message.
 */
export const refuseMalformed: Interceptor = (next) => async (req) => {
  const check = () => {
    const why = req.contextValues.get(malformedKey);
    if (why !== undefined) throw new WfctlError(ErrorCode.INVALID_ARGUMENT, `malformed ${req.method.name} request: ${why}`);
  };
  if (!req.stream) {
    check();
    return next(req);
  }
  const messages = req.message;
  async function* checked() {
    for await (const message of messages) {
      check();
      yield message;
    }
  }
  return next({ ...req, message: checked() });
};

/** Why `bytes` is not a valid `input` message, or undefined when it is. */
function invalidProtobuf(input: DescMessage, bytes: Uint8Array): string | undefined {
  try {
    fromBinary(input, bytes);
    return undefined;
  } catch (err) {
    return `its protobuf does not parse as ${input.typeName}: ${(err as Error).message}`;
  }
}

/** Enveloped messages (gRPC, Connect streaming) with each invalid one emptied; undefined when the framing itself is broken (Connect reports that). */
function checkEnvelopes(bytes: Uint8Array, input: DescMessage | undefined, encoded: boolean, values: ContextValues): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 5 > bytes.length) return undefined;
    const flags = bytes[offset] as number;
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 4).getUint32(0);
    const end = offset + 5 + length;
    if (end > bytes.length) return undefined;
    const payload = bytes.subarray(offset + 5, end);
    const compressed = (flags & 0b01) !== 0;
    const why = compressed
      ? encoded
        ? undefined // Connect decompresses it (and, were it not protobuf, reports it as it would)
        : "a message is flagged compressed, but the request names no encoding"
      : (flags & 0b10) === 0 && input !== undefined
        ? invalidProtobuf(input, payload)
        : undefined;
    if (why !== undefined) {
      values.set(malformedKey, why);
      parts.push(new Uint8Array(5)); // an empty, uncompressed message in its place
    } else {
      parts.push(bytes.subarray(offset, end));
    }
    offset = end;
  }
  return Buffer.concat(parts);
}

/**
 * The request body, read whole (as Connect reads it anyway), with an invalid
 * message replaced by an empty one and the reason put in the call's context
 * values for refuseMalformed. Past `limit` bytes it is passed on unchecked:
 * Connect refuses it for its size.
 */
async function* checkedBody(
  body: AsyncIterable<Uint8Array>,
  input: DescMessage | undefined,
  enveloped: boolean,
  encoded: boolean,
  values: ContextValues,
  limit: number,
): AsyncGenerator<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const iterator = body[Symbol.asyncIterator]();
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    chunks.push(next.value);
    size += next.value.byteLength;
    if (size > limit) {
      yield* chunks;
      for (let rest = await iterator.next(); !rest.done; rest = await iterator.next()) yield rest.value;
      return;
    }
  }
  const bytes = Buffer.concat(chunks);
  if (enveloped) {
    yield checkEnvelopes(bytes, input, encoded, values) ?? bytes;
    return;
  }
  const why = encoded || input === undefined ? undefined : invalidProtobuf(input, bytes);
  if (why !== undefined) values.set(malformedKey, why);
  yield why === undefined ? bytes : new Uint8Array(0);
}

/** Whether the request names a compression of its messages (Connect then decompresses them). */
function namesEncoding(req: NodeRequest, enveloped: boolean): boolean {
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === "string" && value !== "" && value !== "identity";
  };
  return enveloped ? header("grpc-encoding") || header("connect-content-encoding") : header("content-encoding");
}

export interface AdapterOptions extends ConnectRouterOptions {
  routes: (router: ReturnType<typeof createConnectRouter>) => void;
  /** Largest request read; the body check passes larger ones on unchecked (Connect refuses them). */
  readMaxBytes: number;
  /** Told of a call whose answer could not be written (the client went away, mostly). */
  onWriteError?: (err: unknown, method: string) => void;
  /** The context values each call starts with (its connection's peer, say). */
  contextValues?: (req: NodeRequest) => ContextValues;
}

/** The Node request handler serving the routes (see the top of this file). */
export function daemonNodeAdapter(options: AdapterOptions): (req: NodeRequest, res: NodeResponse) => void {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const paths = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      res.writeHead(404);
      res.end();
      return;
    }
    const values = options.contextValues?.(req) ?? createContextValues();
    let uReq: ReturnType<typeof universalRequestFromNodeRequest>;
    try {
      uReq = universalRequestFromNodeRequest(req, res as http.ServerResponse, undefined, values);
    } catch (err) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`bad request: ${(err as Error).message}\n`);
      return;
    }
    const type = (CHECKED.exec(req.headers["content-type"] ?? "")?.[1] ?? "").toLowerCase();
    const declared = Number(req.headers["content-length"] ?? 0);
    // A body declared too large is left to Connect, which refuses it before reading it.
    if (type !== "" && req.method === "POST" && !(declared > options.readMaxBytes)) {
      const enveloped = type !== "proto";
      // JSON messages are Connect's to check (a bad one is INVALID_ARGUMENT already); their envelopes are checked here.
      const input = type.endsWith("json") ? undefined : handler.method.input;
      uReq.body = checkedBody(uReq.body as AsyncIterable<Uint8Array>, input, enveloped, namesEncoding(req, enveloped), values, options.readMaxBytes + 5);
      // What reaches Connect may be shorter than what was sent (an invalid message emptied); Node has framed the body already.
      uReq.header.delete("content-length");
    }
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res as http.ServerResponse))
      // The client went away mid-answer, or the answer could not be written: nothing left to tell the client.
      .catch((err: unknown) => options.onWriteError?.(err, handler.method.name));
  };
}
