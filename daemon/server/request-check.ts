// A request's body checked on its way to Connect (adapter.ts): every message
// must parse, binary as protobuf, JSON with every string valid Unicode, and
// no envelope may claim a compression the request does not name. Connect
// reports such requests as its own failures (INTERNAL, HTTP 500), or, with
// a lone surrogate quoted in its error, fails to write any answer at all
// over gRPC (the client waited forever). Here an invalid message is replaced
// by an empty one and the reason recorded, for the call to fail with
// INVALID_ARGUMENT naming it.
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { type ContextValues, createContextKey } from "@connectrpc/connect";

/** Why the request's message is not valid; set by the body check, read by refuseMalformed (adapter.ts). */
export const malformedKey = createContextKey<string | undefined>(undefined, { description: "why the request body is not a valid message" });

/** Content types whose body is checked, and how: one bare message (Connect unary) or enveloped ones (Connect streaming, gRPC, gRPC-web). */
const CHECKED = /^application\/(proto|json|connect\+(?:proto|json)|grpc(?:-web)?(?:\+(?:proto|json))?)\s*(;|$)/i;

/** How a request's body is framed and encoded. */
export interface BodyFormat {
  enveloped: boolean;
  json: boolean;
  /** The request names a compression (Connect decompresses; the messages are not checked). */
  encoded: boolean;
}

/** The format of `req`'s body, when it is one this check reads. */
export function bodyFormat(req: http.IncomingMessage | http2.Http2ServerRequest): BodyFormat | undefined {
  const type = (CHECKED.exec(req.headers["content-type"] ?? "")?.[1] ?? "").toLowerCase();
  if (type === "" || req.method !== "POST") return undefined;
  const enveloped = type !== "proto" && type !== "json";
  const named = (name: string) => {
    const value = req.headers[name];
    return typeof value === "string" && value !== "" && value !== "identity";
  };
  const encoded = enveloped ? named("grpc-encoding") || named("connect-content-encoding") : named("content-encoding");
  return { enveloped, json: type.endsWith("json"), encoded };
}

/** A UTF-16 surrogate without its pair: no UTF-8 can carry it, so no protobuf string may hold it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `bytes` is not a valid message, or undefined when it is (or, JSON that does not parse, when Connect will say so itself). */
function problemOf(bytes: Uint8Array, input: DescMessage, json: boolean): string | undefined {
  if (!json) {
    try {
      fromBinary(input, bytes);
      return undefined;
    } catch (err) {
      return `its protobuf does not parse as ${input.typeName}: ${(err as Error).message}`;
    }
  }
  let lone = false;
  try {
    JSON.parse(Buffer.from(bytes).toString("utf8"), (key: string, value: unknown) => {
      if (LONE_SURROGATE.test(key) || (typeof value === "string" && LONE_SURROGATE.test(value))) lone = true;
      return value;
    });
  } catch {
    return undefined;
  }
  return lone ? "a string in it is not valid Unicode (an unpaired surrogate, \\ud800-\\udfff)" : undefined;
}

/** Enveloped messages with each invalid one emptied; undefined when the framing itself is broken (Connect reports that). */
function checkEnvelopes(bytes: Uint8Array, input: DescMessage, format: BodyFormat, values: ContextValues): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  const empty = format.json ? Buffer.from([0, 0, 0, 0, 2, 0x7b, 0x7d]) : Buffer.alloc(5);
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 5 > bytes.length) return undefined;
    const flags = bytes[offset] as number;
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 4).getUint32(0);
    const end = offset + 5 + length;
    if (end > bytes.length) return undefined;
    const compressed = (flags & 0b01) !== 0;
    let why: string | undefined;
    if (compressed) why = format.encoded ? undefined : "a message is flagged compressed, but the request names no encoding";
    else if ((flags & 0b10) === 0) why = problemOf(bytes.subarray(offset + 5, end), input, format.json);
    if (why !== undefined) values.set(malformedKey, why);
    parts.push(why !== undefined ? empty : bytes.subarray(offset, end));
    offset = end;
  }
  return Buffer.concat(parts);
}

/**
 * The request body, read whole (as Connect reads it anyway), with an invalid
 * message replaced by an empty one and the reason put in the call's context
 * values. Past `limit` bytes it is passed on unchecked: Connect refuses it
 * for its size.
 */
export async function* checkedBody(body: AsyncIterable<Uint8Array>, input: DescMessage, format: BodyFormat, values: ContextValues, limit: number): AsyncGenerator<Uint8Array> {
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
  if (format.enveloped) {
    yield checkEnvelopes(bytes, input, format, values) ?? bytes;
    return;
  }
  const why = format.encoded ? undefined : problemOf(bytes, input, format.json);
  if (why !== undefined) values.set(malformedKey, why);
  yield why === undefined ? bytes : Buffer.from(format.json ? "{}" : "");
}
