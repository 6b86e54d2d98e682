// What the fuzz test sends: for every DaemonService method, a valid request
// (every field set) and mutations of it: wrong JSON types, extreme numbers,
// huge strings and lists, random and mangled protobuf bytes, truncated and
// lying frames, wrong content types, unknown methods and services. Seeded, so
// a failure can be replayed.
import { type DescField, type DescMessage, type DescMethod, type JsonValue, ScalarType, fromJson, toBinary } from "@bufbuild/protobuf";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { envelope } from "./fuzz-wire.js";

/** A small, seeded PRNG (mulberry32): the same seed, the same requests. */
export class Random {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/**
 * Where a request's target.config_path may point. Only methods that change
 * nothing read the real configuration (whose state must come out
 * byte-identical); those that change state get the scratch one (memory state)
 * or paths that do not exist.
 */
export interface Targets {
  real: string;
  scratch: string;
  missing: string;
}

/** Methods that change no resource and no state (UnlockState with a wrong lock id refuses). */
const READ_ONLY = new Set(["Status", "Plan", "ListState", "ListStateLocks", "Drift", "Outputs", "ListSensitiveValues", "ListPlugins", "InspectPlugin", "PluginLogs", "WatchOperation", "Cancel", "UnlockState"]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Extreme values, as JSON: numbers past every range, numbers as strings, the wrong types. */
const NASTY: readonly Json[] = [
  "18446744073709551615", 18446744073709551615, "18446744073709551616", -1, "-1", 1e308, -1e308, "1e308", "NaN", "Infinity", "-Infinity",
  2147483648, 4294967296, 9007199254740993, 0.5, "0x10", "", " ", true, false, null, [], {}, [1, 2, 3], { a: 1 }, "\u0000", "../../etc/passwd",
  "ÿ\ud800", "/", "🙂".repeat(1000),
];

function sampleValue(field: DescField, targets: Targets, safe: boolean, random: Random): Json {
  if (field.name === "config_path") return safe ? random.pick([targets.real, targets.real, targets.missing]) : random.pick([targets.scratch, targets.missing]);
  if (field.fieldKind === "message") return sampleMessage(field.message, targets, safe, random);
  if (field.fieldKind === "list") {
    if (field.listKind === "message") return [sampleMessage(field.message, targets, safe, random)];
    return [field.listKind === "scalar" && field.scalar === ScalarType.STRING ? "x" : 1];
  }
  if (field.fieldKind === "enum") return 0;
  if (field.fieldKind === "map") return {};
  switch (field.scalar) {
    case ScalarType.BOOL:
      return random.int(2) === 1;
    case ScalarType.STRING:
      if (field.name.endsWith("id")) return random.int(3) === 0 ? "00000000-0000-0000-0000-000000000000" : random.bytes(16).toString("hex");
      return field.name === "name" ? "local" : "x";
    case ScalarType.BYTES:
      return "";
    default:
      return random.pick([0, 1, 7, 100]);
  }
}

function sampleMessage(desc: DescMessage, targets: Targets, safe: boolean, random: Random): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const field of desc.fields) out[field.jsonName] = sampleValue(field, targets, safe, random);
  return out;
}

/** A valid request for `method` with every field set, as protobuf JSON. */
export function validJson(method: DescMethod, targets: Targets, random: Random): { [key: string]: Json } {
  const json = sampleMessage(method.input, targets, READ_ONLY.has(method.name), random);
  // The client never asks to keep a stream open for long; neither do we.
  if (method.name === "PluginLogs") json["follow"] = false;
  if (method.name === "WatchOperation") json["waitMs"] = 50;
  return json;
}

/** Replaces one value somewhere in `json` with something hostile (a huge string or list among them). */
function mutateJson(json: { [key: string]: Json }, random: Random): Json {
  const copy = JSON.parse(JSON.stringify(json)) as { [key: string]: Json };
  const containers: { [key: string]: Json }[] = [];
  const walk = (value: Json) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      containers.push(value);
      Object.values(value).forEach(walk);
    }
  };
  walk(copy);
  const target = random.pick(containers);
  const keys = Object.keys(target);
  const key = keys.length > 0 && random.int(5) > 0 ? random.pick(keys) : `unknownField${random.int(9)}`;
  const roll = random.int(10);
  if (roll === 0) target[key] = random.pick(["é", "x"]).repeat(random.pick([5000, 300_000, 1_900_000]));
  else if (roll === 1) target[key] = Array.from({ length: random.pick([1001, 50_000]) }, (_, i) => (random.int(2) ? `n${i}` : i));
  else target[key] = random.pick(NASTY);
  return copy;
}

/**
 * `json` as protobuf bytes when it is a message protobuf JSON can express (an
 * extreme uint64 can be); otherwise the valid request's bytes, mangled.
 */
function binaryOf(method: DescMethod, json: Json, valid: Json, random: Random): Buffer {
  try {
    return Buffer.from(toBinary(method.input, fromJson(method.input, json as JsonValue, { ignoreUnknownFields: true })));
  } catch {
    return mangle(Buffer.from(toBinary(method.input, fromJson(method.input, valid as JsonValue))), random);
  }
}

/** Protobuf bytes mangled: flipped bytes, cut short, garbage appended, a length past the end. */
function mangle(bytes: Buffer, random: Random): Buffer {
  const out = Buffer.from(bytes);
  switch (random.int(5)) {
    case 0:
      for (let i = 0; i < 1 + random.int(4) && out.length > 0; i++) out[random.int(out.length)] = random.int(256);
      return out;
    case 1:
      return out.subarray(0, random.int(out.length + 1));
    case 2:
      return Buffer.concat([out, random.bytes(1 + random.int(64))]);
    case 3:
      // Field 1, length-delimited, claiming 2^31 bytes.
      return Buffer.concat([Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08]), out]);
    default:
      return random.bytes(random.int(512));
  }
}

/** One exchange the fuzz makes. */
export type Exchange =
  | { kind: "http1"; method?: string; path: string; headers: Record<string, string>; body: Buffer }
  | { kind: "raw"; bytes: Buffer }
  | { kind: "h2"; headers: Record<string, string>; body: Buffer };

const SERVICE = `/${DaemonService.typeName}`;

/** Bodies Shutdown may get: none can parse, so none may stop the daemon. */
function unparsableShutdown(random: Random): Exchange {
  const path = `${SERVICE}/Shutdown`;
  switch (random.int(4)) {
    case 0:
      return { kind: "http1", path, headers: { "content-type": "application/json" }, body: Buffer.from(random.pick(["{", "[1,", '{"a":', "nul", "\u0000"])) };
    case 1:
      // Field number 0 is invalid protobuf.
      return { kind: "http1", path, headers: { "content-type": "application/proto" }, body: Buffer.concat([Buffer.from([0x00]), random.bytes(random.int(16))]) };
    case 2:
      return { kind: "h2", headers: { ":path": path, "content-type": "application/grpc", te: "trailers" }, body: envelope(random.bytes(8), 0, 1000) };
    default:
      return { kind: "http1", path, headers: { "content-type": random.pick(["text/plain", "application/xml", "application/grpc"]) }, body: Buffer.from("{}") };
  }
}

function connectExchange(method: DescMethod, json: Json, valid: Json, random: Random): Exchange {
  const path = `${SERVICE}/${method.name}`;
  const streaming = method.methodKind === "server_streaming";
  const asBinary = random.int(2) === 0;
  let payload = asBinary ? binaryOf(method, json, valid, random) : Buffer.from(JSON.stringify(json));
  if (asBinary && random.int(2) === 0) payload = mangle(payload, random);
  if (!asBinary && random.int(6) === 0) payload = payload.subarray(0, random.int(payload.length)); // truncated JSON
  const type = `application/${streaming ? "connect+" : ""}${asBinary ? "proto" : "json"}`;
  if (!streaming) return { kind: "http1", path, headers: { "content-type": type, "connect-protocol-version": "1" }, body: payload };
  const claimed = random.int(4) === 0 ? payload.length + 1 + random.int(1 << 20) : payload.length;
  return { kind: "http1", path, headers: { "content-type": type, "connect-protocol-version": "1" }, body: envelope(payload, 0, claimed) };
}

function grpcExchange(method: DescMethod, json: Json, valid: Json, random: Random): Exchange {
  const headers = { ":path": `${SERVICE}/${method.name}`, "content-type": random.int(8) === 0 ? "application/grpc+json" : "application/grpc", te: "trailers" };
  const payload = headers["content-type"] === "application/grpc" ? mangleSometimes(binaryOf(method, json, valid, random), random) : Buffer.from(JSON.stringify(json));
  switch (random.int(6)) {
    case 0:
      return { kind: "h2", headers, body: envelope(payload, 0, payload.length + 1 + random.int(1 << 24)) }; // length prefix past the body
    case 1:
      return { kind: "h2", headers, body: envelope(payload).subarray(0, random.int(5)) }; // truncated frame header
    case 2:
      return { kind: "h2", headers, body: envelope(payload, 1) }; // "compressed", with no grpc-encoding
    case 3:
      return { kind: "h2", headers, body: Buffer.concat([envelope(payload), envelope(payload)]) }; // two messages for one request
    default:
      return { kind: "h2", headers, body: envelope(payload) };
  }
}

function mangleSometimes(bytes: Buffer, random: Random): Buffer {
  return random.int(2) === 0 ? mangle(bytes, random) : bytes;
}

/** Requests that are not DaemonService calls at all, or not HTTP. */
function strayExchange(random: Random): Exchange {
  switch (random.int(7)) {
    case 0:
      return { kind: "http1", path: random.pick([`${SERVICE}/NoSuchMethod`, "/other.v1.Service/Status", "/", "/%00", `${SERVICE}/`]), headers: { "content-type": "application/json" }, body: Buffer.from("{}") };
    case 1:
      return { kind: "http1", method: random.pick(["GET", "PUT", "DELETE", "OPTIONS"]), path: `${SERVICE}/Status?encoding=json&message=%7B%7D`, headers: {}, body: Buffer.alloc(0) };
    case 2:
      return { kind: "raw", bytes: random.bytes(1 + random.int(2048)) };
    case 3:
      // A body shorter than its Content-Length, then the client goes away.
      return { kind: "raw", bytes: Buffer.from(`POST ${SERVICE}/Plan HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${1 + random.int(1 << 30)}\r\n\r\n{"target":`) };
    case 4:
      // The HTTP/2 preface, then garbage.
      return { kind: "raw", bytes: Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), random.bytes(random.int(512))]) };
    case 5:
      return { kind: "h2", headers: { ":path": random.pick([`${SERVICE}/Nope`, "/x.Y/Z"]), "content-type": "application/grpc", te: "trailers" }, body: envelope(random.bytes(16)) };
    default:
      return { kind: "http1", path: `${SERVICE}/Status`, headers: { "content-type": random.pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]) }, body: random.bytes(32) };
  }
}

/** The `index`-th exchange of a fuzz run: every method in turn, valid or mutated, over every framing. */
export function exchange(index: number, targets: Targets, random: Random): Exchange {
  const methods = DaemonService.methods;
  if (random.int(12) === 0) return strayExchange(random);
  const method = methods[index % methods.length] as DescMethod;
  if (method.name === "Shutdown") return unparsableShutdown(random);
  const valid = validJson(method, targets, random);
  const json = random.int(4) === 0 ? valid : mutateJson(valid, random);
  return random.int(3) === 0 ? grpcExchange(method, json, valid, random) : connectExchange(method, json, valid, random);
}
