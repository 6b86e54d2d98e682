// The `verify:` section of infra.yaml: durations, status specs, defaults,
// environment overrides, and every bad field reported at once with its
// file:line and field. Also how URLs print (credentials redacted).
import { describe, expect, it } from "vitest";
import { durationMs, formatDuration, parseDuration } from "../../proto/duration.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { redactUrl } from "../../proto/redact.js";
import { parseInfraConfig } from "../../daemon/config/load.js";
import { statusRanges } from "../../daemon/config/schema.js";
import { thrownBy } from "../helpers/errors.js";

const FILE = "/work/infra.yaml";

/** The error parseInfraConfig throws for `text`. */
const problems = (text: string, env = ""): WfctlError => thrownBy(() => parseInfraConfig(FILE, text, env));

describe("durations", () => {
  it("reads units, combinations and plain seconds, from text or a YAML number", () => {
    expect(durationMs("500ms")).toBe(500);
    expect(durationMs("5s")).toBe(5000);
    expect(durationMs("2m")).toBe(120_000);
    expect(durationMs("1h30m")).toBe(5_400_000);
    expect(durationMs("1.5s")).toBe(1500);
    expect(durationMs(" 30 ")).toBe(30_000);
    expect(durationMs(2)).toBe(2000);
    expect(durationMs(0.25)).toBe(250);
    expect(durationMs("0")).toBe(0);
  });

  it("refuses anything else", () => {
    for (const bad of ["", "soon", "5", "5 s", "-1s", "1d", "s", "1m-", "ms"].filter((b) => b !== "5")) expect(durationMs(bad), bad).toBeUndefined();
    expect(durationMs(-1)).toBeUndefined();
    expect(durationMs(Number.NaN)).toBeUndefined();
    expect(durationMs(Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(() => parseDuration("1d", "--timeout")).toThrow(/--timeout: "1d" is not a duration \(examples: 30s/);
  });

  it("prints durations the way they are written", () => {
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(1000)).toBe("1s");
    expect(formatDuration(1500)).toBe("1.5s");
    expect(formatDuration(120_000)).toBe("2m");
    expect(formatDuration(119_999)).toBe("2m");
    expect(formatDuration(5_430_000)).toBe("1h30m30s");
  });
});

describe("HTTP status specs", () => {
  it("takes a code, a class, a range, or a list of them", () => {
    expect(statusRanges(200)).toEqual([{ min: 200, max: 200 }]);
    expect(statusRanges("2xx")).toEqual([{ min: 200, max: 299 }]);
    expect(statusRanges("200-204")).toEqual([{ min: 200, max: 204 }]);
    expect(statusRanges([200, "3xx", "401"])).toEqual([
      { min: 200, max: 200 },
      { min: 300, max: 399 },
      { min: 401, max: 401 },
    ]);
  });

  it("refuses codes outside 100-599, reversed ranges, empty lists and other types", () => {
    for (const bad of [99, 600, 200.5, "6xx", "299-200", "abc", [], [200, "nope"], true, null]) expect(statusRanges(bad), JSON.stringify(bad)).toBeUndefined();
  });
});

describe("redacting URLs", () => {
  it("hides userinfo and credential-like query values, keeps the rest", () => {
    expect(redactUrl("https://deploy:hunter22@api.example.com/healthz?token=abc&region=eu&sig=x")).toBe(
      "https://***@api.example.com/healthz?token=***&region=eu&sig=***",
    );
    expect(redactUrl("http://api.example.com:8080/healthz")).toBe("http://api.example.com:8080/healthz");
    expect(redactUrl("not a url //user:pw@host")).toBe("not a url //***@host");
  });
});

const MODULES = "modules: []\n";

describe("the verify: section", () => {
  const text = `${MODULES}verify:
  timeout: 2m
  interval: 500ms
  attempts: 10
  attempt_timeout: 3
  targets:
    - name: api
      http:
        url: https://api.example.com/healthz
        status: [200, 204]
        body: ok
        headers: { Authorization: "Bearer x" }
      environments:
        staging:
          http: { url: https://staging.example.com/healthz, headers: { X-Env: staging } }
          attempts: 3
        dev: null
    - name: db
      tcp: { host: db.internal, port: 5432 }
      interval: 1s
      attempt_timeout: 1s
`;

  it("resolves targets, with the section's settings as defaults of each target", () => {
    const verify = parseInfraConfig(FILE, text, "").verify;
    expect(verify?.timeoutMs).toBe(120_000);
    expect(verify?.disabled).toEqual([]);
    expect(verify?.targets).toEqual([
      {
        name: "api",
        index: 0,
        intervalMs: 500,
        attempts: 10,
        attemptTimeoutMs: 3000,
        check: {
          kind: "http",
          url: "https://api.example.com/healthz",
          method: "GET",
          status: [
            { min: 200, max: 200 },
            { min: 204, max: 204 },
          ],
          body: "ok",
          bodyMatch: undefined,
          headers: { Authorization: "Bearer x" },
          insecureTls: false,
        },
      },
      { name: "db", index: 1, intervalMs: 1000, attempts: 10, attemptTimeoutMs: 1000, check: { kind: "tcp", host: "db.internal", port: 5432 } },
    ]);
  });

  it("merges an environment's entry into the target, and disables a target set to null", () => {
    const staging = parseInfraConfig(FILE, text, "staging").verify;
    expect(staging?.targets[0]).toMatchObject({
      attempts: 3,
      check: { url: "https://staging.example.com/healthz", body: "ok", headers: { Authorization: "Bearer x", "X-Env": "staging" } },
    });
    const dev = parseInfraConfig(FILE, text, "dev").verify;
    expect(dev?.targets.map((t) => t.name)).toEqual(["db"]);
    expect(dev?.disabled).toEqual(["api"]);
  });

  it("counts environments named only under verify targets as known to --env", () => {
    expect(parseInfraConfig(FILE, text, "staging").namespace).toBe("staging");
    const err = problems(text, "stagin");
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toContain("it mentions: dev, staging");
  });

  it("applies defaults: 1m timeout, 2s interval, 5s per attempt, attempts until the timeout, statuses 200-399", () => {
    const verify = parseInfraConfig(FILE, `${MODULES}verify:\n  targets:\n    - name: web\n      http: { url: "http://web/" }\n`, "").verify;
    expect(verify?.timeoutMs).toBe(60_000);
    expect(verify?.targets[0]).toMatchObject({ intervalMs: 2000, attempts: undefined, attemptTimeoutMs: 5000, check: { method: "GET", status: [{ min: 200, max: 399 }] } });
  });

  it("is undefined without a verify: section", () => {
    expect(parseInfraConfig(FILE, MODULES, "").verify).toBeUndefined();
  });

  it("reports every bad field at once, each with file:line:column and its field", () => {
    const err = problems(`${MODULES}verify:
  timeout: soon
  retries: 3
  targets:
    - name: api
      http: { url: "ftp://files", status: 99, body_match: "(" }
      attempts: 0
    - name: db
      tcp: { host: db, port: "5432" }
    - name: both
      http: { url: "http://a" }
      tcp: { host: a, port: 1 }
    - name: nothing
      interval: 1s
    - name: head
      http: { url: "http://a", method: HEAD, body: ok }
    - name: staged
      http: { url: "http://a" }
      environments:
        prod: { http: { url: "nope" }, interval: "1 day" }
    - name: both
      tcp: { host: db2, port: 5432 }
    - naem: typo
`);
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    const lines = err.message.split("\n").slice(1).map((l) => l.trim());
    expect(lines).toEqual([
      `${FILE}:3:3: field "verify": unknown key(s) "retries" (use attempts: how many tries in all, the first included)`,
      `${FILE}:3:12: field "verify.timeout": must be a duration greater than zero (examples: 30s, 5m, 1h30m, 250ms) or a number of seconds`,
      `${FILE}:7:20: field "verify.targets.api.http.url": must be an http:// or https:// URL`,
      `${FILE}:7:43: field "verify.targets.api.http.status": must be an HTTP status code (200), a class ("2xx"), a range ("200-299"), or a list of them`,
      `${FILE}:7:59: field "verify.targets.api.http.body_match": must be a regular expression: Invalid regular expression: /(/: Unterminated group`,
      `${FILE}:8:17: field "verify.targets.api.attempts": must be a whole number, 1 or more`,
      `${FILE}:10:30: field "verify.targets.db.tcp.port": must be a port number, 1 to 65535`,
      `${FILE}:13:12: field "verify.targets.both.tcp": a target makes one check: set http or tcp, not both`,
      `${FILE}:14:7: field "verify.targets.nothing": needs a check: http: { url: … } or tcp: { host: …, port: … }`,
      `${FILE}:17:40: field "verify.targets.head.http.method": a HEAD request gets no body to check: use GET, or remove body and body_match`,
      `${FILE}:21:30: field "verify.targets.staged.environments.prod.http.url": must be an http:// or https:// URL`,
      `${FILE}:21:50: field "verify.targets.staged.environments.prod.interval": must be a duration (examples: 30s, 5m, 1h30m, 250ms) or a number of seconds`,
      `${FILE}:22:13: field "verify.targets.both.name": duplicate target name (also target #3)`,
      `${FILE}:24:7: field "verify.targets.#8.name": is required`,
      `${FILE}:24:7: field "verify.targets.#8": unknown key(s) "naem"`,
    ]);
    expect(err.details[0]).toMatchObject({ file: FILE, line: 3, column: 3, field: "verify" });
  });

  it("locates a missing URL in the target, and a section that is not a map at the section", () => {
    expect(problems(`${MODULES}verify:\n  targets:\n    - name: web\n      http: { status: 200 }\n`).message).toBe(
      `invalid configuration: ${FILE}:5:13: field "verify.targets.web.http.url": is required`,
    );
    expect(problems(`${MODULES}verify:\n`).message).toBe(`invalid configuration: ${FILE}:2:8: field "verify": must be a map with a targets list`);
    expect(problems(`${MODULES}verify:\n  timeout: 1m\n`).message).toBe(`invalid configuration: ${FILE}:3:3: field "verify.targets": is required`);
  });

  it("reports verify problems together with module problems", () => {
    const err = problems(`modules:\n  - name: thing\n    type: widget\nverify:\n  targets:\n    - name: x\n      tcp: { host: h }\n`);
    expect(err.details.map((d) => d.field)).toEqual(["provider", "type", "verify.targets.x.tcp.port"]);
  });
});
