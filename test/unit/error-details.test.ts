// An error's details on the wire (proto/error-details.ts): the
// `wfctl-error-details` trailer is the percent-encoded proto3 JSON of
// wfctl.plugin.v1.ErrorDetails, with the lock of a LOCK_HELD; the legacy
// JSON array of problems is still read; everything stays within its bounds;
// and the lock survives gRPC and Connect, and rewording on the way.
import { fromJsonString } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { fromConnectError, toConnectError } from "../../proto/connect-errors.js";
import { ERROR_DETAILS_KEY, LEGACY_OMITTED_KEY, WIRE_DETAILS, decodeErrorDetails, detailsMetadata, encodeErrorDetails } from "../../proto/error-details.js";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { ErrorDetailsSchema } from "../../proto/gen/wfctl/plugin/v1/errors_pb.js";
import { fromGrpcError, toGrpcStatus } from "../../proto/grpc.js";
import { type LockInfo, lockHeldError } from "../../proto/state-store.js";

const LOCK: LockInfo = {
  lockId: "6f1c2a9e-3b7d-4c1e-9a55-0d2f7e8b1c44",
  resourceId: "stack",
  holder: "ci@runner-7 (pid 4121, wfctld pid 4093)",
  operation: "apply",
  createdAt: "2026-11-23T13:51:02.118Z",
  version: "0.1.0",
  host: "runner-7",
  pid: 4121,
  daemonPid: 4093,
};

const many = (n: number, text = "x"): ErrorDetail[] => Array.from({ length: n }, (_, i) => ({ message: `${text} ${i}`, file: "/a/infra.yaml", line: i + 1, field: "config.f" }));

/** `error` sent over gRPC and received back. */
const viaGrpc = (error: WfctlError) => fromGrpcError(Object.assign(new Error("x"), toGrpcStatus(error)));

describe("wfctl-error-details", () => {
  it("is the percent-encoded proto3 JSON of ErrorDetails: problems, omitted, lock", () => {
    const value = encodeErrorDetails({ details: [{ message: "bad", field: "config.x", line: 3 }], omitted: 2, lock: LOCK }) as string;
    expect(value).toMatch(/^[\x21-\x7e]+$/);
    const json = decodeURIComponent(value);
    expect(JSON.parse(json)).toEqual({ problems: [{ message: "bad", line: 3, field: "config.x" }], omitted: 2, lock: LOCK });
    // What the generated schema reads, as any peer with protobuf would.
    const message = fromJsonString(ErrorDetailsSchema, json);
    expect(message.lock?.lockId).toBe(LOCK.lockId);
    expect(message.lock?.daemonPid).toBe(4093);
    expect(message.problems[0]?.field).toBe("config.x");
    expect(encodeErrorDetails({ details: [], omitted: 0, lock: undefined })).toBeUndefined();
  });

  it("carries a LOCK_HELD's lock through gRPC and Connect, whatever its message says", () => {
    const error = lockHeldError(LOCK, "locked: holder=ci@runner-7 id=6f1c…");
    for (const back of [viaGrpc(error), fromConnectError(toConnectError(error))]) {
      expect(back.code).toBe(ErrorCode.LOCK_HELD);
      expect(back.message).toBe("locked: holder=ci@runner-7 id=6f1c…");
      expect(back.lock).toEqual(LOCK);
    }
    // Told again in other words (a plugin's name added, advice), it keeps its lock and problems.
    const reworded = viaGrpc(error).rephrased("plugin \"x\" (pid 1): locked; the holder looks stale");
    expect(reworded).toMatchObject({ code: ErrorCode.LOCK_HELD, lock: LOCK });
    // A lock whose record cannot be read: held, with no id.
    expect(viaGrpc(lockHeldError({ ...LOCK, lockId: "", host: undefined, pid: undefined, daemonPid: undefined })).lock).toEqual({
      lockId: "",
      resourceId: "stack",
      holder: LOCK.holder,
      operation: "apply",
      createdAt: LOCK.createdAt,
      version: "0.1.0",
    });
  });

  it("reads the legacy form: a JSON array of problems, the omitted count in its own key", () => {
    const legacy = encodeURIComponent(JSON.stringify([{ message: "m", file: "/f.yaml", line: 2, column: 0 }, { nope: true }, { message: "n", field: "config.a" }]));
    expect(decodeErrorDetails(legacy, "7")).toEqual({ details: [{ message: "m", file: "/f.yaml", line: 2 }, { message: "n", field: "config.a" }], omitted: 7 });
    const status = toGrpcStatus(new WfctlError(ErrorCode.CONFIG_INVALID, "x"));
    status.metadata?.set(ERROR_DETAILS_KEY, legacy);
    status.metadata?.set(LEGACY_OMITTED_KEY, "7");
    expect(fromGrpcError(Object.assign(new Error("x"), status))).toMatchObject({ details: [{ message: "m" }, { message: "n" }], omitted: 7, lock: undefined });
  });

  it("reads proto field names and ignores unknown fields; anything else is no details, never a failure", () => {
    const proto = encodeURIComponent(JSON.stringify({ problems: [{ message: "m" }], lock: { lock_id: "a", resource_id: "stack", daemon_pid: 9 }, later_field: 1 }));
    expect(decodeErrorDetails(proto)).toEqual({ details: [{ message: "m" }], omitted: 0, lock: { lockId: "a", resourceId: "stack", holder: "", operation: "", createdAt: "", version: "", daemonPid: 9 } });
    for (const junk of ["%E0%A4%A", "not json", encodeURIComponent('"a string"'), encodeURIComponent('{"omitted":"many"}'), encodeURIComponent('{"lock":7}')]) {
      expect(decodeErrorDetails(junk, undefined), junk).toEqual({ details: [], omitted: 0 });
    }
  });

  it("stays within WIRE_DETAILS: the lock and the first problems, however large, the rest counted", () => {
    const huge = "é".repeat(100_000);
    const lock = { ...LOCK, holder: huge, operation: huge, host: huge, version: huge };
    const error = new WfctlError(ErrorCode.LOCK_HELD, "x", { lock, details: [{ message: huge, file: huge }, ...many(500, huge)], omitted: 3 });
    const entries = detailsMetadata(error);
    expect(entries.map(([key]) => key)).toEqual([ERROR_DETAILS_KEY]);
    const value = entries[0]?.[1] as string;
    expect(value.length).toBeLessThanOrEqual(WIRE_DETAILS.bytes);
    const back = decodeErrorDetails(value);
    expect(back.lock?.lockId).toBe(LOCK.lockId);
    expect(back.lock?.daemonPid).toBe(4093);
    expect(back.lock?.holder.startsWith("éé")).toBe(true);
    expect(back.details.length).toBeGreaterThanOrEqual(1);
    expect(back.details.length + back.omitted).toBe(501 + 3);
    // Without a lock, the 20 first problems when they fit.
    const plain = decodeErrorDetails(encodeErrorDetails({ details: many(500), omitted: 0, lock: undefined }));
    expect(plain.details).toHaveLength(WIRE_DETAILS.count);
    expect(plain.omitted).toBe(480);
  });
});
