// proto/fetch-headers.ts against Node's own Headers (undici): the same
// inits and operations on both, and what each returns or throws, must agree.
// The client runs on FetchHeaders (installFetchHeaders) so as not to load
// undici; whatever Connect or a caller does with headers must not notice.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FetchHeaders } from "../../proto/fetch-headers.js";
import { ROOT } from "../helpers/paths.js";

const NodeHeaders = globalThis.Headers;
type AnyHeaders = globalThis.Headers;
type HeadersClass = new (init?: unknown) => AnyHeaders;
type Op = (h: AnyHeaders) => unknown;

/** What `run` did: its value, or the kind of error it threw. */
function outcome(run: () => unknown): unknown {
  try {
    const value = run();
    return { value: value === undefined ? "(undefined)" : value };
  } catch (err) {
    return { threw: (err as Error).constructor.name };
  }
}

/** Everything observable of `h`: its pairs in iteration order, keys, values, forEach's calls and Set-Cookie list. */
function observe(h: AnyHeaders): unknown {
  const calls: unknown[] = [];
  const thisArg = { marker: true };
  h.forEach(function (this: unknown, value, key, parent) {
    calls.push([value, key, parent === h, this === thisArg]);
  }, thisArg);
  return { pairs: [...h], entries: [...h.entries()], keys: [...h.keys()], values: [...h.values()], calls, setCookie: h.getSetCookie(), tag: Object.prototype.toString.call(h) };
}

/** Builds headers from `init` with `Class`, runs `ops`, and says what came of each step. */
function script(Class: HeadersClass, init: () => unknown, ops: readonly Op[]): unknown {
  let headers: AnyHeaders | undefined;
  const made = outcome(() => {
    headers = new Class(init());
  });
  if (!headers) return { made };
  const h = headers;
  return { made, ops: ops.map((op) => outcome(() => op(h))), after: observe(h) };
}

const cases: [string, () => unknown, Op[]][] = [
  ["no init", () => undefined, []],
  ["null init", () => null, [(h) => h.has("a")]],
  ["a record, names in any case, values with edge whitespace", () => ({ B: " 2\t", a: "1", "X-Long-Name": "\n\r v \n" }), [(h) => h.get("b"), (h) => h.get("x-long-name")]],
  ["a record with a number value and an array value", () => ({ n: 42, list: ["a", "b"] }), [(h) => h.get("n"), (h) => h.get("list")]],
  ["a record with a non-enumerable property", () => Object.defineProperty({ a: "1" }, "hidden", { value: "x", enumerable: false }), []],
  ["a record with an invalid name", () => ({ "bad name": "1" }), []],
  ["a record with an enumerable Symbol key", () => ({ a: "1", [Symbol("s")]: "x" }), []],
  ["a record with a non-enumerable Symbol key", () => Object.defineProperty({ a: "1" }, Symbol("s"), { value: "x", enumerable: false }), []],
  ["pairs with repeated names", () => [["a", "1"], ["A", "2"], ["b", "3"]], [(h) => h.get("a"), (h) => h.get("B")]],
  ["a Map", () => new Map([["x", "y"], ["z", "w"]]), []],
  ["a pair of three items", () => [["a", "1", "2"]], []],
  ["a pair of one item", () => [["a"]], []],
  ["a pair that is a string", () => ["ab"], []],
  ["a string", () => "abc", []],
  ["a number", () => 5, []],
  ["Node's Headers", () => new NodeHeaders([["a", "1"], ["a", "2"], ["set-cookie", "s=1"], ["set-cookie", "t=2"]]), [(h) => h.get("a")]],
  ["FetchHeaders", () => new FetchHeaders([["a", "1"], ["a", "2"], ["set-cookie", "s=1"], ["set-cookie", "t=2"]]), [(h) => h.get("a")]],
  [
    "append, set, delete, has and get, in any case",
    () => ({}),
    [
      (h) => h.append("Accept", "a"),
      (h) => h.append("accept", "b"),
      (h) => h.get("ACCEPT"),
      (h) => h.set("Accept", "c"),
      (h) => h.get("accept"),
      (h) => h.has("aCCept"),
      (h) => h.delete("ACCEPT"),
      (h) => h.has("accept"),
      (h) => h.get("accept"),
      (h) => h.delete("missing"),
    ],
  ],
  [
    "iteration order: byte order of lower-cased names",
    () => [["b", "1"], ["A", "2"], ["a-b", "3"], ["_x", "4"], ["~", "5"], ["Z", "6"], ["0", "7"], ["a", "8"]],
    [],
  ],
  [
    "Set-Cookie: joined by get, separate in iteration and getSetCookie",
    () => ({}),
    [(h) => h.append("Set-Cookie", "a=1; Path=/"), (h) => h.append("set-cookie", "b=2, c=3"), (h) => h.get("set-cookie"), (h) => h.set("x", "y")],
  ],
  ["an empty value", () => ({}), [(h) => h.append("a", ""), (h) => h.get("a"), (h) => h.append("a", "  "), (h) => h.get("a")]],
  [
    "invalid names",
    () => ({}),
    [(h) => h.append("", "x"), (h) => h.append("a b", "x"), (h) => h.set("é", "x"), (h) => h.get("a:b"), (h) => h.has("(x)"), (h) => h.delete("a/b"), (h) => h.append("€", "x")],
  ],
  [
    "invalid values",
    () => ({}),
    [(h) => h.append("a", "x\ny"), (h) => h.append("a", "x\ry"), (h) => h.set("a", "x\0y"), (h) => h.append("a", "€"), (h) => h.append("a", "ok\u00ff")],
  ],
  ["values that are not strings", () => ({}), [(h) => h.append("a", 1 as unknown as string), (h) => h.set("b", null as unknown as string), (h) => h.get("b")]],
  ["forEach with something that is not a function", () => ({ a: "1" }), [(h) => h.forEach(42 as unknown as () => void)]],
];

describe("FetchHeaders, the client's Headers", () => {
  for (const [name, init, ops] of cases) {
    it(`does what Node's Headers does: ${name}`, () => {
      expect(script(FetchHeaders as unknown as HeadersClass, init, ops)).toEqual(script(NodeHeaders as unknown as HeadersClass, init, ops));
    });
  }

  it("iterators are live generators a for-of and a spread can both consume", () => {
    const h = new FetchHeaders({ a: "1", b: "2" });
    const it = h.entries();
    expect(it.next()).toEqual({ value: ["a", "1"], done: false });
    expect([...it]).toEqual([["b", "2"]]);
    expect(it[Symbol.iterator]()).toBe(it);
  });

  it("is installed only while nothing has used Node's Headers, and then loads no undici", () => {
    // Real processes: whether Node's fetch code (undici) is loaded is per process.
    const probe = (before: string) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [
            "--input-type=module",
            "-e",
            `${before}
             const { installFetchHeaders, FetchHeaders } = await import(${JSON.stringify(join(ROOT, "dist", "proto", "fetch-headers.js"))});
             const installed = installFetchHeaders();
             const h = new Headers({ a: "1" });
             console.log(JSON.stringify({ installed, ours: h instanceof FetchHeaders, undici: process.moduleLoadList.some((m) => m.includes("undici")) }));`,
          ],
          { encoding: "utf8" },
        ),
      ) as unknown;
    expect(probe("")).toEqual({ installed: true, ours: true, undici: false });
    expect(probe("new Headers();")).toEqual({ installed: false, ours: false, undici: true });
  });
});
