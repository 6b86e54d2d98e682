// The table of wfctl codes, gRPC statuses and exit codes that plugin authors
// read, in the header of proto/wfctl/plugin/v1/errors.proto and in
// docs/plugin-authoring.md, is the one the code uses: every code once, with
// the status proto/errors.ts sends it as and the exit code client/exit-codes.ts
// gives it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exitCodeFor } from "../../client/exit-codes.js";
import { ErrorCode, GrpcStatus, grpcStatusOf } from "../../proto/errors.js";
import { ROOT } from "../helpers/paths.js";

interface Row {
  code: string;
  status: string;
  exit: number;
}

/** The rows of the table in errors.proto's header comment: `//   CODE   STATUS   EXIT …`. */
function protoTable(): Row[] {
  const text = readFileSync(join(ROOT, "proto", "wfctl", "plugin", "v1", "errors.proto"), "utf8");
  const start = text.indexOf("//   wfctl code");
  const end = text.indexOf("// (docs/plugin-authoring.md", start);
  expect(start, "errors.proto has the table").toBeGreaterThan(0);
  return text
    .slice(start, end)
    .split("\n")
    .slice(1)
    .flatMap((line) => {
      const match = /^\/\/\s+([A-Z_]+)\s+([A-Z_]+)\s+(\d+)\b/.exec(line);
      return match ? [{ code: match[1] as string, status: match[2] as string, exit: Number(match[3]) }] : [];
    });
}

/** The rows of the table under "Codes, gRPC statuses and exit codes" in docs/plugin-authoring.md: | `CODE` | `STATUS` | EXIT | … |. */
function docsTable(): Row[] {
  const text = readFileSync(join(ROOT, "docs", "plugin-authoring.md"), "utf8");
  const start = text.indexOf("### Codes, gRPC statuses and exit codes");
  expect(start, "plugin-authoring.md has the section").toBeGreaterThan(0);
  const section = text.slice(start, text.indexOf("\n### ", start + 1));
  return section.split("\n").flatMap((line) => {
    const match = /^\| `([A-Z_]+)` \| `([A-Z_]+)` \| (\d+) \|/.exec(line);
    return match ? [{ code: match[1] as string, status: match[2] as string, exit: Number(match[3]) }] : [];
  });
}

/** What the code does, as a row. */
function actual(code: ErrorCode): Row {
  const status = Object.entries(GrpcStatus).find(([, n]) => n === grpcStatusOf(code))?.[0] ?? "?";
  return { code, status, exit: exitCodeFor(code) };
}

describe("the error table", () => {
  for (const [where, table] of [
    ["errors.proto", protoTable],
    ["docs/plugin-authoring.md", docsTable],
  ] as const) {
    it(`in ${where} lists every code once, with the gRPC status and exit code wfctl uses`, () => {
      const rows = table();
      expect(rows.map((r) => r.code).sort()).toEqual(Object.values(ErrorCode).sort());
      for (const row of rows) expect(row, `${where}: ${row.code}`).toEqual(actual(row.code as ErrorCode));
    });
  }

  it("would catch a wrong row (the parsers read what they check)", () => {
    expect(protoTable().find((r) => r.code === "LOCK_HELD")).toEqual({ code: "LOCK_HELD", status: "ABORTED", exit: 3 });
    expect(docsTable().find((r) => r.code === "INVALID_ARGUMENT")).toEqual({ code: "INVALID_ARGUMENT", status: "INVALID_ARGUMENT", exit: 64 });
    expect(actual(ErrorCode.LOCK_HELD)).not.toEqual({ code: "LOCK_HELD", status: "ABORTED", exit: 1 });
  });
});
