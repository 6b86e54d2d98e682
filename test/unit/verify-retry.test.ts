// Retrying health checks (client/verify/retry.ts) and one attempt against
// real local servers, HTTP and HTTPS (client/verify/probe.ts): healthy on
// the third try, out of attempts, out of time, stopped by Ctrl-C, all
// targets at once; and the few words each failure is told in.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type Server, createServer as createTcpServer } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Listeners, closedPort } from "../helpers/listeners.js";
import type { HealthCheck, HttpCheck, VerifyTarget } from "../../client/config.js";
import { type AttemptResult, type Probe, endpointOf, probe } from "../../client/verify/probe.js";
import { checkTarget, verifyTargets } from "../../client/verify/retry.js";

const TCP: HealthCheck = { kind: "tcp", host: "127.0.0.1", port: 1 };

function target(name: string, settings: Partial<VerifyTarget> = {}): VerifyTarget {
  return { name, index: 0, check: TCP, intervalMs: 5, attempts: undefined, attemptTimeoutMs: 1000, ...settings };
}

/** A probe that answers from a script, one result per attempt (the last repeats), recording each attempt's time limit. */
function scripted(results: AttemptResult[]): Probe & { limits: number[] } {
  const limits: number[] = [];
  const fn = async (_check: HealthCheck, timeoutMs: number) => {
    limits.push(timeoutMs);
    return results[Math.min(limits.length, results.length) - 1] as AttemptResult;
  };
  return Object.assign(fn, { limits });
}

const down: AttemptResult = { ok: false, status: 503, detail: "HTTP 503" };
const up: AttemptResult = { ok: true, status: 200, detail: "HTTP 200" };
const never = new AbortController().signal;

describe("retrying a target", () => {
  it("passes on the third try when the first two fail, saying so", async () => {
    const failures: string[] = [];
    const report = await checkTarget(target("api", { attempts: 10 }), performance.now() + 60_000, {
      timeoutMs: 60_000,
      signal: never,
      probe: scripted([down, down, up]),
      onFailedAttempt: (f) => failures.push(`${f.attempt}:${f.result.detail}:${f.nextInMs}`),
    });
    expect(report).toMatchObject({ ok: true, attempts: 3, detail: "HTTP 200", status: 200, gaveUp: undefined });
    expect(failures).toEqual(["1:HTTP 503:5", "2:HTTP 503:5"]);
  });

  it("gives up when out of attempts, with the last failure", async () => {
    const failures: (number | undefined)[] = [];
    const report = await checkTarget(target("api", { attempts: 4 }), performance.now() + 60_000, {
      timeoutMs: 60_000,
      signal: never,
      probe: scripted([{ ok: false, detail: "connection refused" }, down]),
      onFailedAttempt: (f) => failures.push(f.nextInMs),
    });
    expect(report).toMatchObject({ ok: false, attempts: 4, detail: "HTTP 503", status: 503, gaveUp: "attempts" });
    expect(failures).toEqual([5, 5, 5, undefined]);
  });

  it("an attempt the run's deadline cut short and that timed out keeps the full attempt's failure as the detail", async () => {
    // A late timer on a busy host can start the last attempt with a millisecond left.
    const cut: AttemptResult = { ok: false, detail: "timed out after 1ms", timedOut: true };
    const limited = target("api", { attempts: 2 });
    // The run's deadline is nearer than the target's 1 s attempt limit: the second attempt is cut short.
    const near = scripted([down, cut]);
    const report = await checkTarget(limited, performance.now() + 800, { timeoutMs: 800, signal: never, probe: near });
    expect(near.limits[1]).toBeLessThan(1000);
    expect(report).toMatchObject({ ok: false, attempts: 2, detail: "HTTP 503" });
    // A time-out within the target's own attempt limit is the target's answer, and is kept.
    const own = await checkTarget(limited, performance.now() + 60_000, { timeoutMs: 60_000, signal: never, probe: scripted([down, { ...cut, detail: "timed out after 1s" }]) });
    expect(own.detail).toBe("timed out after 1s");
  });

  it("gives up at the deadline when attempts are unlimited, and no attempt may run past it", async () => {
    const probe = scripted([down]);
    const report = await checkTarget(target("api", { attemptTimeoutMs: 60_000 }), performance.now() + 100, { timeoutMs: 100, signal: never, probe });
    expect(report).toMatchObject({ ok: false, gaveUp: "timeout", detail: "HTTP 503" });
    expect(report.attempts).toBe(probe.limits.length);
    for (const limit of probe.limits) expect(limit).toBeLessThanOrEqual(100);
  });

  it("does not wait out an interval that ends past the deadline", async () => {
    const report = await checkTarget(target("api", { intervalMs: 3_600_000 }), performance.now() + 30_000, { timeoutMs: 30_000, signal: never, probe: scripted([down]) });
    expect(report).toMatchObject({ ok: false, attempts: 1, gaveUp: "timeout" });
  });

  it("stops at once on Ctrl-C, even in the middle of a long interval", async () => {
    const interrupt = new AbortController();
    const report = await checkTarget(target("api", { intervalMs: 3_600_000 }), performance.now() + 7_200_000, {
      timeoutMs: 7_200_000,
      signal: interrupt.signal,
      probe: scripted([down]),
      onFailedAttempt: () => interrupt.abort(),
    });
    expect(report).toMatchObject({ ok: false, attempts: 1, gaveUp: "interrupted", detail: "HTTP 503" });
  });

  it("checks every target at once and reports them in the configuration's order", async () => {
    // Each target's first attempt waits for the other's: checked one after the other, neither would pass.
    const arrived = new Set<string>();
    const waiters: (() => void)[] = [];
    const barrier: Probe = async (check) => {
      const name = check.kind === "tcp" ? String(check.port) : check.url;
      arrived.add(name);
      waiters.splice(0).forEach((wake) => wake());
      if (arrived.size < 2) await new Promise<void>((wake) => waiters.push(wake));
      return up;
    };
    const settled: string[] = [];
    const reports = await verifyTargets(
      [target("first", { check: { kind: "tcp", host: "h", port: 1 } }), target("second", { check: { kind: "tcp", host: "h", port: 2 } })],
      { timeoutMs: 60_000, signal: never, probe: barrier, onSettled: (r) => settled.push(r.target.name) },
    );
    expect(reports.map((r) => [r.target.name, r.ok])).toEqual([
      ["first", true],
      ["second", true],
    ]);
    expect(settled.sort()).toEqual(["first", "second"]);
  });
});

describe("one attempt against real servers", () => {
  let httpPort = 0;
  let silentPort = 0;
  let refusedPort = 0;
  const hits = new Map<string, number>();
  const listeners = new Listeners();

  const listen = (server: Server) => listeners.listen(server);

  beforeAll(async () => {
    httpPort = await listen(
      createHttpServer((req, res) => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        const n = (hits.get(path) ?? 0) + 1;
        hits.set(path, n);
        if (path === "/flaky") res.writeHead(n < 3 ? 503 : 200).end(n < 3 ? "starting" : "ok");
        else if (path === "/auth") res.writeHead(req.headers.authorization === `Basic ${Buffer.from("deploy:pw-secret").toString("base64")}` ? 200 : 401).end();
        else if (path === "/redirect") res.writeHead(301, { location: "/elsewhere" }).end();
        else res.writeHead(200).end("service degraded");
      }),
    );
    // Accepts connections and never answers.
    silentPort = await listen(createTcpServer(() => {}));
    refusedPort = await closedPort();
  });

  afterAll(() => listeners.close());

  const http = (path: string, settings: Partial<HttpCheck> = {}): HttpCheck => ({
    kind: "http",
    url: `http://127.0.0.1:${httpPort}${path}`,
    method: "GET",
    status: [{ min: 200, max: 399 }],
    body: undefined,
    bodyMatch: undefined,
    headers: {},
    insecureTls: false,
    ...settings,
  });

  it("an HTTP target healthy on its third try", async () => {
    const report = await checkTarget(target("api", { check: http("/flaky"), attempts: 5 }), performance.now() + 30_000, { timeoutMs: 30_000, signal: never });
    expect(report).toMatchObject({ ok: true, attempts: 3, detail: "HTTP 200" });
  });

  it("statuses: accepted by the spec, told with what was expected otherwise; redirects are not followed", async () => {
    expect(await probe(http("/redirect"), 5000, never)).toEqual({ ok: true, status: 301, detail: "HTTP 301" });
    expect(await probe(http("/redirect", { status: [{ min: 200, max: 200 }] }), 5000, never)).toEqual({ ok: false, status: 301, detail: "HTTP 301 (expected 200)" });
  });

  it("the body must contain the text and match the expression", async () => {
    expect(await probe(http("/", { body: "ok" }), 5000, never)).toMatchObject({ ok: false, detail: 'body did not contain "ok"' });
    expect(await probe(http("/", { bodyMatch: "^healthy" }), 5000, never)).toMatchObject({ ok: false, detail: "body did not match /^healthy/" });
    expect(await probe(http("/", { body: "degraded", bodyMatch: "^service" }), 5000, never)).toMatchObject({ ok: true, detail: "HTTP 200" });
  });

  it("sends the URL's userinfo as Basic authentication, and never prints it", async () => {
    const check = http("/auth", { url: `http://deploy:pw-secret@127.0.0.1:${httpPort}/auth?token=t0k3n` });
    expect(await probe(check, 5000, never)).toMatchObject({ ok: true, detail: "HTTP 200" });
    expect(endpointOf(check)).toBe(`http://***@127.0.0.1:${httpPort}/auth?token=***`);
  });

  it("a server that accepts and never answers times out after the attempt's limit", async () => {
    expect(await probe(http("/", { url: `http://127.0.0.1:${silentPort}/` }), 200, never)).toEqual({ ok: false, detail: "timed out after 200ms", timedOut: true });
  });

  it("a closed port is refused; an open one connects", async () => {
    expect(await probe({ kind: "tcp", host: "127.0.0.1", port: refusedPort }, 5000, never)).toEqual({ ok: false, detail: "connection refused" });
    expect(await probe(http("/", { url: `http://127.0.0.1:${refusedPort}/` }), 5000, never)).toEqual({ ok: false, detail: "connection refused" });
    expect(await probe({ kind: "tcp", host: "127.0.0.1", port: silentPort }, 5000, never)).toEqual({ ok: true, detail: "connected" });
  });

  it("an HTTPS target: a self-signed certificate is untrusted, and accepted with insecure_tls", async () => {
    // A certificate made here by openssl (on the machine, as Debian's base has it): Node cannot make one.
    const dir = mkdtempSync(join(tmpdir(), "wft-tls-"));
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
      const port = await listen(createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (_req, res) => res.writeHead(200).end("secure")));
      const url = `https://127.0.0.1:${port}/`;
      expect(await probe(http("/", { url }), 5000, never)).toMatchObject({ ok: false, detail: expect.stringMatching(/^TLS: untrusted certificate .*set insecure_tls: true/) });
      expect(await probe(http("/", { url, insecureTls: true, body: "secure" }), 5000, never)).toEqual({ ok: true, status: 200, detail: "HTTP 200" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("Ctrl-C stops an attempt in flight; its result is marked stopped", async () => {
    const interrupt = new AbortController();
    const attempt = probe(http("/", { url: `http://127.0.0.1:${silentPort}/` }), 60_000, interrupt.signal);
    setTimeout(() => interrupt.abort(), 20);
    expect(await attempt).toEqual({ ok: false, detail: "stopped", stopped: true });
  });
});
