import { describe, expect, it } from "vitest";
import { ErrorCode, GrpcStatus, WfctlError, codeFromWire, grpcStatusOf } from "../../proto/errors.js";
import { decodeErrorDetails, encodeErrorDetails } from "../../proto/error-details.js";
import { parseDuration } from "../../proto/duration.js";
import { REDACTED, isSensitiveKey, redact } from "../../proto/redact.js";
import { fromConnectError, toConnectError } from "../../proto/connect-errors.js";
import { fromGrpcError, toGrpcStatus } from "../../proto/grpc.js";
import { parseHandshake } from "../../proto/plugin-handshake.js";
import { readHostEnvironment, handshakeLine, HandshakeRefusal } from "../../plugins/sdk/handshake.js";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "../../proto/versions.js";
import { EXIT, exitCodeFor } from "../../client/exit-codes.js";

describe("errors across boundaries", () => {
  it("keeps the wfctl code and details through gRPC and Connect", () => {
    const original = new WfctlError(ErrorCode.LOCK_HELD, "held by alice", { details: [{ message: "m", field: "f" }] });
    const viaGrpc = fromGrpcError(Object.assign(new Error("x"), toGrpcStatus(original)));
    expect(viaGrpc).toMatchObject({ code: ErrorCode.LOCK_HELD, message: "held by alice", details: [{ message: "m", field: "f" }] });
    const viaConnect = fromConnectError(toConnectError(original));
    expect(viaConnect).toMatchObject({ code: ErrorCode.LOCK_HELD, message: "held by alice", details: [{ message: "m", field: "f" }] });
    expect(toConnectError(original).code).toBe(GrpcStatus.ABORTED);
  });

  it("derives a code from the gRPC status when the peer sent none", () => {
    expect(codeFromWire(GrpcStatus.UNAVAILABLE, undefined)).toBe(ErrorCode.PLUGIN_UNAVAILABLE);
    expect(codeFromWire(GrpcStatus.DEADLINE_EXCEEDED, "NOT_A_CODE")).toBe(ErrorCode.DEADLINE_EXCEEDED);
    expect(grpcStatusOf(ErrorCode.CONFIG_INVALID)).toBe(GrpcStatus.INVALID_ARGUMENT);
  });

  it("survives details with any characters", () => {
    const details = [{ message: "naïve \n \"quoted\" ✓", file: "/a b/c.yaml", line: 3 }];
    const encoded = encodeErrorDetails({ details, omitted: 0, lock: undefined });
    expect(decodeErrorDetails(encoded).details).toEqual(details);
    expect(encoded).toMatch(/^[\x20-\x7e]+$/);
  });

  it("maps every code to an exit code; distinct ones for what CI handles differently", () => {
    expect(exitCodeFor(ErrorCode.CONFIG_INVALID)).toBe(EXIT.ERROR);
    expect(exitCodeFor(ErrorCode.LOCK_HELD)).toBe(EXIT.LOCK_HELD);
    expect(exitCodeFor(ErrorCode.PLUGIN_UNAVAILABLE)).toBe(EXIT.UNAVAILABLE);
    expect(exitCodeFor(ErrorCode.CANCELLED)).toBe(130);
    for (const code of Object.values(ErrorCode)) expect(typeof exitCodeFor(code)).toBe("number");
  });
});

describe("redaction", () => {
  it("masks secret-looking keys anywhere and keeps *_ref keys readable", () => {
    expect(isSensitiveKey("db_password")).toBe(true);
    expect(isSensitiveKey("apiToken")).toBe(true);
    expect(isSensitiveKey("credentials")).toBe(true);
    expect(isSensitiveKey("password_ref")).toBe(false);
    expect(isSensitiveKey("path")).toBe(false);
    expect(redact({ user: "u", password: "p", nested: [{ secret_key: { a: 1 } }], credentials_ref: "creds" })).toEqual({
      user: "u",
      password: REDACTED,
      nested: [{ secret_key: REDACTED }],
      credentials_ref: "creds",
    });
  });
});

describe("durations", () => {
  it("reads the forms users type, and names the flag when it cannot", () => {
    expect(parseDuration("30s", "--timeout")).toBe(30_000);
    expect(parseDuration("1h30m", "--timeout")).toBe(5_400_000);
    expect(parseDuration("250ms", "--timeout")).toBe(250);
    expect(parseDuration("2", "--timeout")).toBe(2000);
    expect(() => parseDuration("soon", "--timeout")).toThrow(/--timeout: "soon" is not a duration/);
  });
});

describe("handshake", () => {
  it("accepts the go-plugin line and refuses anything else, naming the plugin", () => {
    expect(parseHandshake("1|1|unix|/tmp/p/plugin.sock|grpc\n", "plugin x")).toMatchObject({ protocolVersion: 1, address: "/tmp/p/plugin.sock" });
    expect(() => parseHandshake("hello world", "plugin x")).toThrow(/plugin x: malformed handshake line/);
    expect(() => parseHandshake("1|9|unix|/tmp/p.sock|grpc", "plugin x")).toThrow(/protocol version 9, but this host speaks 1/);
    expect(() => parseHandshake("1|1|tcp|127.0.0.1:1|grpc", "plugin x")).toThrow(/network "tcp"/);
    expect(() => parseHandshake("1|1|unix|/tmp/p.sock|netrpc", "plugin x")).toThrow(/protocol "netrpc"/);
  });

  it("makes a plugin refuse to run without the host's cookie or a common protocol", () => {
    expect(() => readHostEnvironment({}, "local")).toThrow(HandshakeRefusal);
    expect(() => readHostEnvironment({}, "local")).toThrow(/started by wfctld/);
    const env = { [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, WFCTL_PLUGIN_SOCKET_DIR: "/tmp/x", WFCTL_PLUGIN_PROTOCOL_VERSIONS: "7,8" };
    expect(() => readHostEnvironment(env, "local")).toThrow(/host speaks version\(s\) \[7, 8\], plugin "local" speaks \[1\]/);
    expect(readHostEnvironment({ ...env, WFCTL_PLUGIN_PROTOCOL_VERSIONS: "1,2" }, "local")).toEqual({ socketDir: "/tmp/x", protocolVersion: 1 });
    expect(handshakeLine(1, "/tmp/x/plugin.sock")).toBe("1|1|unix|/tmp/x/plugin.sock|grpc\n");
  });
});
