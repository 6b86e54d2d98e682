// The API edge (daemon/server/limits.ts): every number a DaemonService request
// carries has explicit bounds, every string and list has some, and a request
// outside them is INVALID_ARGUMENT naming the field. The same checks run for
// the daemon's socket and the in-process transport: here through the latter,
// the real routes and interceptors in this process.
import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { connectionLost, daemonWentAway, fromConnectError } from "../../proto/connect-errors.js";
import { DaemonService, PlanRequestSchema } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { FIELD_RULES, MAX_TIMER_MS, checkRequest, isNumeric, ruleOf } from "../../daemon/server/limits.js";
import { startInProcess } from "../../daemon/inprocess.js";

function invalid(fn: () => void): WfctlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WfctlError);
    expect((err as WfctlError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    return err as WfctlError;
  }
  throw new Error("expected INVALID_ARGUMENT, nothing was thrown");
}

const plan = (init: Parameters<typeof create<typeof PlanRequestSchema>>[1]) => create(PlanRequestSchema, init);

describe("request limits", () => {
  it("gives every number of every request explicit bounds, and names only fields that exist", () => {
    const numeric: string[] = [];
    const known = new Set<string>();
    const seen = new Set<string>();
    const walk = (message: (typeof DaemonService.methods)[number]["input"]) => {
      if (seen.has(message.typeName)) return;
      seen.add(message.typeName);
      for (const field of message.fields) {
        known.add(`${message.typeName}.${field.name}`);
        if ((field.fieldKind === "scalar" || (field.fieldKind === "list" && field.listKind === "scalar")) && isNumeric(field.scalar)) {
          numeric.push(`${message.typeName}.${field.name}`);
        }
        if (field.message) walk(field.message);
      }
    };
    for (const method of DaemonService.methods) walk(method.input);
    expect(numeric.length).toBeGreaterThan(3);
    for (const name of numeric) {
      const rule = FIELD_RULES[name];
      expect(rule?.min, `${name} needs a lower bound in FIELD_RULES`).toBeDefined();
      expect(rule?.max, `${name} needs an upper bound in FIELD_RULES`).toBeDefined();
    }
    for (const name of Object.keys(FIELD_RULES)) expect(known, `FIELD_RULES names ${name}, which no request has`).toContain(name);
  });

  it("refuses the timeout that crashed the daemon (past Date's range), naming the field and the bound", () => {
    const err = invalid(() => checkRequest(PlanRequestSchema, plan({ target: { configPath: "/x/infra.yaml" }, operation: { id: "a", timeoutMs: 18446744073709551615n } })));
    expect(err.message).toContain(`operation.timeout_ms must be at most ${MAX_TIMER_MS} ms, got 18446744073709551615`);
    expect(err.details).toEqual([expect.objectContaining({ field: "operation.timeout_ms" })]);
    // The largest a Node timer takes is fine.
    checkRequest(PlanRequestSchema, plan({ target: { configPath: "/x/infra.yaml" }, operation: { id: "a", timeoutMs: BigInt(MAX_TIMER_MS) } }));
  });

  it("bounds strings in bytes, refuses NUL and relative config paths, and lists every problem (up to five)", () => {
    const long = invalid(() => checkRequest(PlanRequestSchema, plan({ target: { configPath: `/${"é".repeat(2100)}` } })));
    expect(long.message).toContain("target.config_path is 4201 bytes, more than the 4096 allowed");
    expect(invalid(() => checkRequest(PlanRequestSchema, plan({ target: { configPath: "infra.yaml" } }))).message).toContain('target.config_path must be an absolute path, got "infra.yaml"');
    expect(invalid(() => checkRequest(PlanRequestSchema, plan({ target: { configPath: "/a\0b" } }))).message).toContain("target.config_path must not contain a NUL character");
    // An environment names a state namespace (a directory): it follows the name rules, so never a path out of the state directory.
    for (const env of ["../../etc", "a/b", "..", ".", "a\\b", "line\nbreak", "-x", "a b", ".hidden"]) {
      expect(invalid(() => checkRequest(PlanRequestSchema, plan({ target: { configPath: "/x/infra.yaml", env } }))).message).toContain(
        `target.env must be an environment name: it must start with a letter or digit and use only letters, digits, '_', '.', '-' (at most 128), like a module name; got ${JSON.stringify(env)}`,
      );
    }
    checkRequest(PlanRequestSchema, plan({ target: { configPath: "/x/infra.yaml", env: "us-east-1.prod_2" } }));
    const many = invalid(() =>
      checkRequest(PlanRequestSchema, plan({ target: { configPath: "rel", env: "e".repeat(300) }, caller: { user: "u".repeat(300), pid: -1 }, operation: { id: "i".repeat(200) } })),
    );
    expect(many.details.map((d) => d.field)).toEqual(["target.config_path", "target.env", "caller.user", "caller.pid", "operation.id"]);
  });

  it("gives fields without a rule the defaults", () => {
    const field = PlanRequestSchema.fields.find((f) => f.name === "destroy");
    expect(field && ruleOf(PlanRequestSchema, field)).toMatchObject({ maxBytes: 4096, maxItems: 1000 });
  });

  describe("through the in-process transport", () => {
    const inProcess = startInProcess();
    const client = createClient(DaemonService, inProcess.transport);
    afterAll(() => inProcess.close());

    it("answers a request out of bounds with INVALID_ARGUMENT, for unary calls and streams alike", async () => {
      const unary = await client.plan({ target: { configPath: "/nowhere/infra.yaml" }, operation: { id: "x", timeoutMs: 18446744073709551615n } }).catch((e: unknown) => e);
      expect(fromConnectError(unary)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining("operation.timeout_ms must be at most") });
      const names = await client.outputs({ target: { configPath: "/nowhere/infra.yaml" }, names: Array.from({ length: 1001 }, (_, i) => `n${i}`) }).catch((e: unknown) => e);
      expect(fromConnectError(names).message).toContain("names has 1001 entries, more than the 1000 allowed");
      const stream = (async () => {
        for await (const _ of client.watchOperation({ operationId: "x", waitMs: 4_000_000 })) void _;
      })().catch((e: unknown) => e);
      expect(fromConnectError(await stream)).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining("wait_ms must be at most 600000 ms") });
      // An error a stream raises after its start keeps its wfctl code too.
      const missing = (async () => {
        for await (const _ of client.watchOperation({ operationId: "", waitMs: 1 })) void _;
      })().catch((e: unknown) => e);
      expect(fromConnectError(await missing).code).toBe(ErrorCode.INVALID_ARGUMENT);
    });

    it("reports memory and no unhandled errors in Status", async () => {
      const status = await client.status({});
      expect(status.rssBytes).toBeGreaterThan(0n);
      expect(status.heapUsedBytes).toBeGreaterThan(0n);
      expect(status.uncaughtErrors).toBe(0);
    });
  });
});

describe("a connection lost mid-call", () => {
  it("is told from an answer of the peer, and reported as DAEMON_UNAVAILABLE with the log and the lock advice", () => {
    const hangUp = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    expect(connectionLost(new ConnectError("socket hang up", 10, undefined, undefined, hangUp))).toBe("socket hang up (ECONNRESET)");
    expect(connectionLost(Object.assign(new Error("connect ECONNREFUSED /s"), { code: "ECONNREFUSED" }))).toBe("connect ECONNREFUSED /s (ECONNREFUSED)");
    // The daemon's own errors are never taken for a lost connection.
    const answered = new ConnectError("x", 14, new Headers({ "wfctl-error-code": "PLUGIN_UNAVAILABLE" }), undefined, hangUp);
    expect(connectionLost(answered)).toBeUndefined();
    expect(connectionLost(new WfctlError(ErrorCode.INTERNAL, "x"))).toBeUndefined();
    const err = daemonWentAway("socket hang up (ECONNRESET)", "/run/w/wfctld.sock", "/run/w/wfctld.log");
    expect(err.code).toBe(ErrorCode.DAEMON_UNAVAILABLE);
    expect(err.message).toContain("wfctld went away in the middle of this command");
    expect(err.message).toContain("/run/w/wfctld.log");
    expect(err.message).toContain("`wfctl infra state unlock <lock id>`");
  });
});
