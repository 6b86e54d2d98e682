// Error paths (issue 17, item 15; acceptance check 5): errors travel in
// bounded form (500 problems once overflowed the client's 16 KiB header limit
// and the real error was lost), streamed calls map errors exactly as unary
// ones, a NUL byte in a path is a clear CONFIG_INVALID naming the field (it
// leaked a plugin's internal temporary file name), and malformed binary
// protobuf is INVALID_ARGUMENT, never a 500. Real CLI, real daemon.
import * as http2 from "node:http2";
import * as net from "node:net";
import { request } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { DaemonService, PlanRequestSchema, PluginLogsRequestSchema } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { envelope } from "../faults/fuzz-wire.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";

const SERVICE = `/${DaemonService.typeName}`;

/** An HTTP/1.1 exchange with every response header kept (what the client's header limit sees). */
function post(socket: string, path: string, type: string, body: Buffer): Promise<{ status: number; headers: Record<string, string>; rawHeaderBytes: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socket, method: "POST", path, headers: { "content-type": type, "content-length": String(body.length), "connect-protocol-version": "1" }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
            rawHeaderBytes: res.rawHeaders.reduce((n, h) => n + h.length + 2, 0),
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A gRPC exchange over HTTP/2 (`body`: the framed request): its grpc-status, message and wfctl code (from trailers, or headers for a trailers-only answer). */
async function grpc(socket: string, method: string, body: Buffer): Promise<{ status: string; message: string; code: string; details: string }> {
  const session = http2.connect("http://wfctld", { createConnection: () => net.connect(socket) });
  session.on("error", () => {});
  try {
    const stream = session.request({ ":method": "POST", ":path": `${SERVICE}/${method}`, "content-type": "application/grpc", te: "trailers" });
    const seen: Record<string, unknown> = {};
    stream.on("response", (h) => Object.assign(seen, h));
    stream.on("trailers", (h) => Object.assign(seen, h));
    stream.on("data", () => {});
    await new Promise((resolve) => {
      stream.on("close", resolve);
      stream.end(body);
    });
    const text = (key: string) => (seen[key] === undefined ? "" : String(seen[key]));
    return { status: text("grpc-status"), message: decodeURIComponent(text("grpc-message")), code: text("wfctl-error-code"), details: text("wfctl-error-details") };
  } finally {
    session.destroy();
  }
}

/** The error of a Connect streamed answer: the end-of-stream message (flag 2) that ends its body. */
function endOfStream(body: Buffer): { error?: { code: string; message: string }; metadata?: Record<string, string[]> } {
  let offset = 0;
  while (offset + 5 <= body.length) {
    const flags = body[offset] as number;
    const length = body.readUInt32BE(offset + 1);
    if ((flags & 0b10) !== 0) return JSON.parse(body.subarray(offset + 5, offset + 5 + length).toString("utf8")) as ReturnType<typeof endOfStream>;
    offset += 5 + length;
  }
  throw new Error(`no end-of-stream message in ${body.length} bytes`);
}

/** Protobuf that no message parses: a truncated varint, a length past the end, field number 0, wire type 7. */
const MALFORMED = [Buffer.from([0x08]), Buffer.from([0x0a, 0x05, 0x61]), Buffer.from([0x00, 0x00]), Buffer.from([0x0f])];

describe("error paths", () => {
  const sandbox = cliSandbox("wft-errp-");
  const write = (name: string, text: string) => {
    const path = join(sandbox.dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    expectExit(await sandbox.cli.run(["daemon", "start"]), 0);
  });

  describe("500 duplicate keys in one configuration (acceptance 5)", () => {
    const duplicates = () => `modules:\n  - name: state\n    type: iac.state\n    config:\n      backend: memory\n${Array.from({ length: 501 }, (_, i) => `      dup: ${i}`).join("\n")}\n`;

    it("prints the first problems with file:line and a count of the rest, exit 1", async () => {
      const path = write("dups.yaml", duplicates());
      const result = await sandbox.cli.run(["infra", "plan", "-c", path]);
      expectExit(result, 1);
      expect(result.stderr).toContain(`Error: invalid configuration ${path}: 500 problems:\n`);
      // The second "dup" (line 7) is the first duplicate.
      for (let line = 7; line < 7 + 20; line++) expect(result.stderr).toContain(`  ${path}:${line}:7: module "state": YAML syntax error: Map keys must be unique`);
      expect(result.stderr).not.toContain(`${path}:27:7`);
      expect(result.stderr).toContain("  … and 480 more\n");
      expect(result.stderr).not.toContain("Header overflow");
      const json = await sandbox.cli.run(["infra", "plan", "-c", path, "--json"]);
      const { error } = JSON.parse(json.stdout.trim().split("\n").at(-1) ?? "") as { error: { code: string; details: { line: number }[]; omitted: number } };
      expect(error.code).toBe("CONFIG_INVALID");
      expect(error.details.map((d) => d.line)).toEqual(Array.from({ length: 20 }, (_, i) => 7 + i));
      expect(error.omitted).toBe(480);
    });

    it("keeps the answer's headers far below the 16 KiB a client accepts, over Connect and gRPC alike", async () => {
      const path = write("dups.yaml", duplicates());
      const answer = await post(sandbox.cli.socket, `${SERVICE}/Plan`, "application/json", Buffer.from(JSON.stringify({ target: { configPath: path } })));
      expect(answer.status).toBe(400);
      expect(answer.headers["wfctl-error-code"]).toBe("CONFIG_INVALID");
      const details = JSON.parse(decodeURIComponent(String(answer.headers["wfctl-error-details"]))) as { problems: unknown[]; omitted: number };
      expect(details.problems).toHaveLength(20);
      expect(details.omitted).toBe(480);
      expect(answer.rawHeaderBytes).toBeLessThan(10 * 1024);
      const viaGrpc = await grpc(sandbox.cli.socket, "Plan", envelope(Buffer.from(toBinary(PlanRequestSchema, create(PlanRequestSchema, { target: { configPath: path } })))));
      expect(viaGrpc).toMatchObject({ status: "3", code: "CONFIG_INVALID" });
      expect(viaGrpc.details.length).toBeLessThanOrEqual(8 * 1024);
      expect(viaGrpc.message).toContain("… and 480 more");
    });
  });

  describe("streamed calls map errors as unary ones do", () => {
    it("PluginLogs and WatchOperation fail with stable codes over Connect, gRPC and the CLI, as InspectPlugin does", async () => {
      const unary = await post(sandbox.cli.socket, `${SERVICE}/InspectPlugin`, "application/json", Buffer.from('{"name":"nope"}'));
      expect(unary.headers["wfctl-error-code"]).toBe("PLUGIN_NOT_FOUND");
      const cases: [string, object, string, string][] = [
        ["PluginLogs", { name: "nope" }, "PLUGIN_NOT_FOUND", "not_found"],
        ["WatchOperation", { operationId: "no-such-operation", waitMs: 10 }, "NOT_FOUND", "not_found"],
        ["WatchOperation", { operationId: "" }, "INVALID_ARGUMENT", "invalid_argument"],
        ["PluginLogs", { name: "local", tail: 999_999 }, "INVALID_ARGUMENT", "invalid_argument"],
      ];
      for (const [method, body, code, connectCode] of cases) {
        const answer = await post(sandbox.cli.socket, `${SERVICE}/${method}`, "application/connect+json", envelope(Buffer.from(JSON.stringify(body))));
        const end = endOfStream(answer.body);
        expect(end.error?.code, `${method} ${JSON.stringify(body)}`).toBe(connectCode);
        expect(end.metadata?.["wfctl-error-code"]).toEqual([code]);
      }
      const logs = await sandbox.cli.run(["plugins", "logs", "nope"]);
      expectExit(logs, 1);
      expect(logs.stderr).toContain('Error: no plugin named "nope"');
      // The same error, code and exit as `plugins inspect nope`, followed or not, through the daemon or in-process.
      const inspected = await sandbox.cli.run(["plugins", "inspect", "nope", "--json"]);
      expectExit(inspected, 1);
      expect(JSON.parse(inspected.stdout)).toMatchObject({ error: { code: "PLUGIN_NOT_FOUND", message: expect.stringContaining('no plugin named "nope"') } });
      for (const args of [["nope"], ["nope", "--follow"], ["nope", "--no-daemon"]]) {
        const streamed = await sandbox.cli.run(["plugins", "logs", ...args, "--json"]);
        expectExit(streamed, 1);
        expect(JSON.parse(streamed.stdout), args.join(" ")).toEqual(JSON.parse(inspected.stdout));
      }
      const nope = Buffer.from(toBinary(PluginLogsRequestSchema, create(PluginLogsRequestSchema, { name: "nope" })));
      expect(await grpc(sandbox.cli.socket, "PluginLogs", envelope(nope))).toMatchObject({ status: "5", code: "PLUGIN_NOT_FOUND" });
      // A streamed call with no request message at all: Connect's own protocol error keeps its status (UNIMPLEMENTED), never INTERNAL.
      expect(await grpc(sandbox.cli.socket, "PluginLogs", Buffer.alloc(0))).toMatchObject({ status: "12", message: expect.stringContaining("missing input message") });
    });
  });

  describe("a NUL byte in a path", () => {
    const HEAD = "modules:\n  - name: state\n    type: iac.state\n    config: { backend: memory }\n";
    const cases: [string, string, string, string][] = [
      ["a state directory", 'modules:\n  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: ".wfctl/st\\0ate" }\n', "state", "config.directory"],
      ["a provider root", `${HEAD}  - name: local\n    type: iac.provider\n    config: { provider: local, root: "o\\0ut" }\n`, "local", "config.root"],
      [
        "a local.file path",
        `${HEAD}  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n  - name: f\n    type: local.file\n    provider: local\n    config: { path: "a\\0b.txt", content: x }\n`,
        "f",
        "config.path",
      ],
    ];
    for (const [what, text, module, field] of cases) {
      it(`in ${what} is CONFIG_INVALID naming the module and field, and leaks no internal name`, async () => {
        const path = write(`nul-${module}.yaml`, text);
        const result = await sandbox.cli.run(["infra", "apply", "-c", path, "--auto-approve"]);
        expectExit(result, 1);
        expect(result.stderr).toMatch(new RegExp(`Error: invalid configuration: ${path}:\\d+:\\d+: module "${module}": field "${field}": must not contain a NUL character`));
        expect(result.stdout + result.stderr).not.toContain("\0");
        expect(result.stdout + result.stderr).not.toMatch(/\.tmp|wfctl\.tmp|null bytes/);
      });
    }

    it("in a request's config path is INVALID_ARGUMENT naming the field", async () => {
      const answer = await post(sandbox.cli.socket, `${SERVICE}/Plan`, "application/json", Buffer.from(JSON.stringify({ target: { configPath: "/tmp/a\u0000b/infra.yaml" } })));
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body.toString())).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("target.config_path must not contain a NUL character") });
    });
  });

  describe("a string that is not valid Unicode (an unpaired surrogate)", () => {
    it("is INVALID_ARGUMENT over Connect JSON and gRPC JSON alike (over gRPC no answer at all was written: its message could not be encoded)", async () => {
      const body = '{"target":{"configPath":"/tmp/x/infra.yaml"},"caller":{"user":"x","pid":"\\u00ff\\ud800"}}';
      const unary = await post(sandbox.cli.socket, `${SERVICE}/Drift`, "application/json", Buffer.from(body));
      expect(unary.status).toBe(400);
      expect(JSON.parse(unary.body.toString())).toMatchObject({ code: "invalid_argument", message: "malformed Drift request: a string in it is not valid Unicode (an unpaired surrogate, \\ud800-\\udfff)" });
      const session = http2.connect("http://wfctld", { createConnection: () => net.connect(sandbox.cli.socket) });
      session.on("error", () => {});
      try {
        const stream = session.request({ ":method": "POST", ":path": `${SERVICE}/Drift`, "content-type": "application/grpc+json", te: "trailers" });
        const seen: Record<string, unknown> = {};
        stream.on("response", (h) => Object.assign(seen, h));
        stream.on("trailers", (h) => Object.assign(seen, h));
        stream.on("data", () => {});
        await new Promise((resolve) => {
          stream.on("close", resolve);
          stream.end(envelope(Buffer.from(body)));
        });
        expect(seen["grpc-status"]).toBe("3");
        expect(seen["wfctl-error-code"]).toBe("INVALID_ARGUMENT");
      } finally {
        session.destroy();
      }
    });
  });

  describe("malformed binary protobuf", () => {
    it("is INVALID_ARGUMENT (HTTP 400) naming the message, for every method, never a 500: Connect unary and streamed, and gRPC", async () => {
      const seen: string[] = [];
      for (const method of DaemonService.methods) {
        if (method.name === "Shutdown") continue; // an empty Shutdown would stop the daemon; its malformed bodies are covered by the fuzz
        const streamed = method.methodKind === "server_streaming";
        for (const bytes of MALFORMED) {
          const answer = streamed
            ? await post(sandbox.cli.socket, `${SERVICE}/${method.name}`, "application/connect+proto", envelope(bytes))
            : await post(sandbox.cli.socket, `${SERVICE}/${method.name}`, "application/proto", bytes);
          const error = streamed ? endOfStream(answer.body).error : (JSON.parse(answer.body.toString()) as { code: string; message: string });
          expect(answer.status, `${method.name} ${bytes.toString("hex")}`).toBe(streamed ? 200 : 400);
          expect(error, `${method.name} ${bytes.toString("hex")}`).toMatchObject({ code: "invalid_argument", message: expect.stringContaining(`malformed ${method.name} request: its protobuf does not parse as ${method.input.typeName}`) });
          const viaGrpc = await grpc(sandbox.cli.socket, method.name, envelope(bytes));
          expect(viaGrpc, `${method.name} ${bytes.toString("hex")} over gRPC`).toMatchObject({ status: "3", code: "INVALID_ARGUMENT" });
          seen.push(method.name);
        }
      }
      expect(new Set(seen).size).toBe(DaemonService.methods.length - 1);
    });
  });
});
