// The pure logic behind "input that wedges or floods the daemon": YAML alias
// checks, positions kept outside the YAML document, bounded error details
// and messages, the bounded file reader, bounded plugin output lines, and
// the handshake's quoting. The end-to-end checks are under test/security/.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { checkAliases } from "../../daemon/config/aliases.js";
import { parseInfraConfig } from "../../daemon/config/parse.js";
import { IndexedSource } from "../../daemon/config/positions.js";
import { readConfigFile } from "../../daemon/config/read.js";
import { MAX_PROBLEMS_KEPT, SourceFile, configInvalid, formatDetails } from "../../daemon/config/source.js";
import { MAX_HANDSHAKE_LINE, parseHandshake } from "../../proto/plugin-handshake.js";
import { MAX_LINE_BYTES, followLines } from "../../daemon/supervisor/logs.js";
import { fromConnectError, toConnectError } from "../../proto/connect-errors.js";
import { ErrorCode, type ErrorDetail, WfctlError } from "../../proto/errors.js";
import { ERROR_DETAILS_KEY, WIRE_DETAILS, boundDetails, detailsMetadata, encodeErrorDetails } from "../../proto/error-details.js";
import { fromGrpcError, toGrpcStatus } from "../../proto/grpc.js";
import { thrownBy } from "../helpers/errors.js";
import { tempDir } from "../helpers/paths.js";

const FILE = "/work/infra.yaml";
const valueOf = (text: string, max = 10 * 1024 * 1024) => SourceFile.parse(FILE, text, max).value();

describe("YAML aliases", () => {
  it("expands aliases within bounds: anchors shared by several modules work", () => {
    const text = "base: &b { root: out, mode: '0644' }\nmodules: [ { a: *b }, { b: *b } ]\n";
    expect(valueOf(text)).toEqual({ base: { root: "out", mode: "0644" }, modules: [{ a: { root: "out", mode: "0644" } }, { b: { root: "out", mode: "0644" } }] });
  });

  it("refuses aliases that expand the document past the size limit, at the alias that crosses it", () => {
    const big = "x".repeat(1000);
    const text = `s: &s "${big}"\nlist:\n${Array.from({ length: 20 }, () => "  - *s").join("\n")}\n`;
    const err = thrownBy(() => valueOf(text, 10_000));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    // A use of the string counts 1001 (its characters, and one for the node): with the anchor, eight aliases fit in 10,000; the ninth (line 11) crosses.
    expect(err.details[0]).toMatchObject({ file: FILE, line: 11, column: 5 });
    expect(err.message).toContain(`${FILE}:11:5: alias *s expands the document past 10000 bytes`);
    expect(err.message).toContain("--max-config-bytes");
  });

  it("counts what aliases stand for, nested: a billion laughs is refused at once, with its line", () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(",")}]`);
    const started = Date.now();
    const err = thrownBy(() => valueOf(levels.join("\n")));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details[0]?.line).toBeGreaterThan(1);
    expect(err.message).toMatch(/alias \*[a-h] (is one alias too many|expands the document past)/);
  });

  it("refuses yaml's own alias count (a node used more than 100 times) with the line of the alias past it", () => {
    const text = `a: &a 1\nlist:\n${Array.from({ length: 100 }, () => "  - *a").join("\n")}\n`;
    const err = thrownBy(() => valueOf(text));
    expect(err.details[0]).toMatchObject({ line: 102 });
    expect(err.message).toContain("alias *a is one alias too many");
    // 99 aliases (100 uses) are fine, as before.
    expect(() => valueOf(`a: &a 1\nlist:\n${Array.from({ length: 99 }, () => "  - *a").join("\n")}\n`)).not.toThrow();
  });

  it("refuses an alias to no anchor, and one inside the node it names, as CONFIG_INVALID with their lines (they were INTERNAL with neither)", () => {
    const missing = thrownBy(() => valueOf("modules:\n  - name: a\n    config: *nothing\n"));
    expect(missing).toMatchObject({ code: ErrorCode.CONFIG_INVALID });
    expect(missing.message).toContain(`${FILE}:3:13: alias *nothing names no anchor before it`);
    const cycle = thrownBy(() => valueOf("a: &x\n  b: [1, *x]\n"));
    expect(cycle.message).toContain(`${FILE}:2:10: alias *x is inside the node it names`);
  });

  it("sizes what aliases stand for without expanding them: 99 aliases of a 200 KB string (the issue's 5 MB file, scaled) stop where they pass 10 MiB", () => {
    const text = `s: &s "${"x".repeat(200_000)}"\nlist:\n${Array.from({ length: 99 }, () => "  - *s").join("\n")}\n`;
    const doc = parseDocument(text);
    const started = Date.now();
    const problem = checkAliases(doc, 10 * 1024 * 1024);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(problem?.message).toBe("alias *s expands the document past 10485760 bytes (the configuration size limit, wfctld --max-config-bytes)");
    // 200,001 per use: the anchor and 51 aliases fit in 10 MiB; the 52nd alias (line 54) is the first past it.
    expect(problem?.node.range?.[0]).toBe(text.indexOf("list:") + "list:\n".length + 51 * "  - *s\n".length + "  - ".length);
    expect(thrownBy(() => valueOf(text)).details[0]).toMatchObject({ line: 54, column: 5 });
  });
});

describe("positions kept outside the YAML document", () => {
  const text = `modules:
  - name: state
    type: iac.state
    config: { backend: memory }
  - name: f
    type: local.file
    provider: local
    config:
      path: a.txt
      nested: { deep: [1, 2, { leaf: true }] }
outputs:
  o: { source: f.path }
`;
  it("locates every path (and the deepest existing node of a missing one) exactly as the document does", () => {
    const source = SourceFile.parse(FILE, text);
    const indexed = new IndexedSource(FILE, source.positions());
    const paths: (string | number)[][] = [
      [],
      ["modules"],
      ["modules", 1],
      ["modules", 1, "config", "path"],
      ["modules", 1, "config", "nested", "deep", 2, "leaf"],
      ["modules", 1, "config", "nested", "deep", 7],
      ["modules", 1, "config", "nope", "deeper"],
      ["modules", 9],
      ["outputs", "o", "source"],
      ["verify", "targets", 0],
    ];
    for (const path of paths) expect(indexed.locate(path), JSON.stringify(path)).toEqual(source.locate(path));
    expect(indexed.detail(["modules", 1, "config", "path"], "bad", "f", "config.path")).toEqual({ file: FILE, line: 9, column: 13, module: "f", field: "config.path", message: "bad" });
  });

  it("survives a structured clone (what crosses the worker thread boundary)", () => {
    const tree = structuredClone(SourceFile.parse(FILE, text).positions());
    expect(new IndexedSource(FILE, tree).locate(["modules", 1, "config", "nested"])).toEqual({ line: 10, column: 15 });
  });
});

describe("problems in bounded form", () => {
  const many = (n: number): ErrorDetail[] => Array.from({ length: n }, (_, i) => ({ file: FILE, line: i + 2, column: 3, message: `Map keys must be unique (${i})` }));

  it("lists the first 20 problems in the message, then how many more", () => {
    const text = formatDetails(FILE, many(500));
    expect(text.split("\n")).toHaveLength(1 + 20 + 1);
    expect(text).toContain(`invalid configuration ${FILE}: 500 problems:`);
    expect(text).toContain(`${FILE}:21:3: Map keys must be unique (19)`);
    expect(text).not.toContain("(20)");
    expect(text.endsWith("  … and 480 more")).toBe(true);
    expect(formatDetails(FILE, many(3), 7)).toContain("10 problems");
  });

  it("keeps at most MAX_PROBLEMS_KEPT details in an error, counting the rest", () => {
    const err = configInvalid(FILE, many(MAX_PROBLEMS_KEPT + 5), 10);
    expect(err.details).toHaveLength(MAX_PROBLEMS_KEPT);
    expect(err.omitted).toBe(15);
    expect(err.message).toContain(`${MAX_PROBLEMS_KEPT + 15} problems`);
  });

  it("puts at most 20 details, 8 KiB encoded, on the wire, and counts the rest; across Connect and gRPC alike", () => {
    const error = new WfctlError(ErrorCode.CONFIG_INVALID, "x", { details: many(500), omitted: 3 });
    const metadata = Object.fromEntries(detailsMetadata(error));
    expect(metadata[ERROR_DETAILS_KEY]?.length).toBeLessThanOrEqual(WIRE_DETAILS.bytes);
    for (const back of [fromConnectError(toConnectError(error)), fromGrpcError(Object.assign(new Error("x"), toGrpcStatus(error)))]) {
      expect(back.details).toHaveLength(20);
      expect(back.details[0]).toEqual(many(1)[0]);
      expect(back.omitted).toBe(483);
    }
  });

  it("always carries the first problem, cut short when it alone is too large", () => {
    const huge = { file: `/${"d".repeat(5000)}/infra.yaml`, line: 1, message: "é".repeat(100_000) };
    const { kept, omitted } = boundDetails([huge, ...many(3)]);
    expect(omitted).toBe(0);
    expect(kept).toHaveLength(4);
    expect(kept[0]?.line).toBe(1);
    expect(kept[0]?.message.length).toBeLessThanOrEqual(201);
    expect(encodeErrorDetails({ details: [huge, ...many(3)], omitted: 0, lock: undefined })?.length).toBeLessThanOrEqual(WIRE_DETAILS.bytes);
  });
});

describe("a NUL character in the configuration", () => {
  it("is CONFIG_INVALID at its line, naming the module and field (it reached plugins, which quoted their temporary file names)", () => {
    const text = 'modules:\n  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: ".wfctl/st\\0ate" }\n';
    const err = thrownBy(() => parseInfraConfig(FILE, text, ""));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.details[0]).toMatchObject({ file: FILE, line: 4, module: "state", field: "config.directory" });
    expect(err.message).toContain('module "state": field "config.directory": must not contain a NUL character');
    expect(err.message).not.toContain("\0");
  });
});

describe("reading a configuration file", () => {
  const temp = tempDir("wft-read-");
  afterAll(() => temp.cleanup());
  const limits = { maxBytes: 1024, timeoutMs: 5_000, inWorker: false };
  const refusal = async (path: string) => {
    try {
      await readConfigFile(path, { limits });
    } catch (err) {
      expect(err).toBeInstanceOf(WfctlError);
      return err as WfctlError;
    }
    throw new Error(`reading ${path} did not fail`);
  };

  it("reads a regular file, and one through a symbolic link", async () => {
    writeFileSync(join(temp.path, "ok.yaml"), "modules: []\n");
    symlinkSync(join(temp.path, "ok.yaml"), join(temp.path, "link.yaml"));
    expect(await readConfigFile(join(temp.path, "link.yaml"), { limits })).toBe("modules: []\n");
  });

  it("refuses a FIFO at once (no writer needed), a device, a directory and a socket, by name and kind", async () => {
    const fifo = join(temp.path, "fifo.yaml");
    execFileSync("mkfifo", [fifo]);
    const dir = join(temp.path, "dir.yaml");
    mkdirSync(dir);
    const socket = join(temp.path, "s.sock");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const cases: [string, string][] = [
        [fifo, "it is a named pipe (FIFO), not a regular file"],
        ["/dev/zero", "it is a character device, not a regular file"],
        [dir, "it is a directory, not a regular file"],
        [socket, "it is a socket, not a file"],
        [join(temp.path, "missing.yaml"), "no such file"],
      ];
      for (const [path, why] of cases) {
        const err = await refusal(path);
        expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
        expect(err.message).toBe(`cannot read configuration ${path}: ${why}`);
        expect(err.details[0]).toEqual({ file: path, message: why });
      }
    } finally {
      server.close();
    }
    expect(await readConfigFile(join(temp.path, "missing.yaml"), { limits, missingOk: true })).toBeUndefined();
  });

  it("refuses a file over the size limit before reading it", async () => {
    const big = join(temp.path, "big.yaml");
    writeFileSync(big, "x".repeat(1025));
    const err = await refusal(big);
    expect(err.message).toContain("it is 1025 bytes; configuration files may be at most 1024 bytes (wfctld --max-config-bytes)");
  });
});

describe("plugin output, bounded", () => {
  const lines = (input: (string | Buffer)[], max = MAX_LINE_BYTES): Promise<string[]> =>
    new Promise((resolve) => {
      const stream = new PassThrough();
      const got: string[] = [];
      followLines(stream, (line) => got.push(line), max);
      stream.on("end", () => resolve(got));
      for (const chunk of input) stream.write(chunk);
      stream.end();
    });

  it("splits lines across chunks, CRLF included, and keeps a last line without a newline", async () => {
    expect(await lines(["a\r\nb", "c\n", "", "\nlast"])).toEqual(["a", "bc", "", "last"]);
  });

  it("cuts a long line at the limit and says how much it dropped, across any number of chunks", async () => {
    const chunk = Buffer.alloc(64 * 1024, "x");
    const got = await lines([...Array.from({ length: 16 }, () => chunk), "tail\nnext line\n"]);
    const dropped = 16 * 64 * 1024 + 4 - MAX_LINE_BYTES;
    expect(got).toEqual([`${"x".repeat(MAX_LINE_BYTES)} … [line truncated: ${dropped} more bytes]`, "next line"]);
  });

  it("quotes at most 200 characters of a malformed handshake line, naming the plugin", () => {
    const err = thrownBy(() => parseHandshake("y".repeat(MAX_HANDSHAKE_LINE), 'plugin "noisy"'));
    expect(err.code).toBe(ErrorCode.PLUGIN_HANDSHAKE_FAILED);
    expect(err.message.startsWith('plugin "noisy": malformed handshake line "yyy')).toBe(true);
    expect(err.message).toContain(`(${MAX_HANDSHAKE_LINE} characters)`);
    expect(err.message.length).toBeLessThan(400);
  });
});
