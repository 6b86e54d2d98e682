// wfctl deploy verify through the real CLI, against servers this test runs:
// a target healthy on its third try passes; one that never becomes healthy
// fails with a clear table within its timeout (the acceptance check).
// Also TCP targets, body checks, --json, --env overrides, --target, GitHub
// Actions (step summary, ::error), credentials never printed, and the
// configuration errors `infra plan` reports for a bad verify: section.
import { spawn } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { type Server, createServer as createTcpServer } from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { WFCTL } from "../helpers/paths.js";
import { Listeners, closedPort } from "../helpers/listeners.js";

const NOT_GHA = { GITHUB_ACTIONS: "", GITHUB_STEP_SUMMARY: "", CI: "true" };
const PASSWORD = "pw-5ecret-91c2";
const TOKEN = "tok-7f3a-SECRET";

interface VerifyJson {
  ok: boolean;
  config: string;
  env: string;
  timeout_ms: number;
  targets: { name: string; kind: string; endpoint: string; ok: boolean; attempts: number; max_attempts: number | null; status?: number; detail?: string; error?: string; gave_up?: string }[];
}

describe("wfctl deploy verify", () => {
  const sandbox = cliSandbox("wft-verify-");
  const listeners = new Listeners();
  const hits = new Map<string, number>();
  let web = "";
  let silent = 0;
  let closed = 0;

  const listen = (server: Server) => listeners.listen(server);

  beforeAll(async () => {
    const port = await listen(
      createHttpServer((req, res) => {
        const path = new URL(req.url ?? "/", "http://x").pathname;
        const n = (hits.get(path) ?? 0) + 1;
        hits.set(path, n);
        // /flaky/<anything>: 503 twice, then 200 "ok". Each test uses its own path.
        if (path.startsWith("/flaky/")) res.writeHead(n < 3 ? 503 : 200).end(n < 3 ? "starting" : "ok");
        else if (path === "/down") res.writeHead(500).end("boom");
        else if (path === "/degraded") res.writeHead(200).end("status: degraded");
        else res.writeHead(200).end("ok");
      }),
    );
    web = `http://127.0.0.1:${port}`;
    // Accepts connections, never answers.
    silent = await listen(createTcpServer(() => {}));
    closed = await closedPort();
  });

  afterAll(() => listeners.close());

  /** Writes a configuration with this verify: section and returns its path. */
  const config = (name: string, verify: string): string => {
    const file = join(sandbox.dir, `${name}.yaml`);
    writeFileSync(file, `modules: []\n${verify}`);
    return file;
  };
  const verify = (args: string[], env: Record<string, string> = NOT_GHA) => sandbox.cli.run(["deploy", "verify", ...args], { env, timeoutMs: 30_000 });

  it("passes against a target that becomes healthy on its third try", async () => {
    const file = config(
      "third-try",
      `verify:
  timeout: 20s
  interval: 100ms
  targets:
    - name: api
      http: { url: "${web}/flaky/third-try", body: ok }
      attempts: 5
`,
    );
    const result = await verify(["-c", file]);
    expectExit(result, 0);
    const row = result.stdout.split("\n").find((l) => l.startsWith("api "));
    expect(row).toMatch(new RegExp(`^api\\s+http\\s+${web}/flaky/third-try\\s+OK\\s+3/5\\s+\\S+\\s+HTTP 200$`));
    expect(result.stdout).toContain("All 1 target(s) healthy");
    // Each failed attempt is a progress line on stderr.
    expect(result.stderr).toContain("api: attempt 1/5 failed: HTTP 503; next in 100ms");
    expect(result.stderr).toContain("api: attempt 2/5 failed: HTTP 503; next in 100ms");
    expect(result.stderr).toContain("api: healthy (HTTP 200) after 3 attempt(s)");
  });

  it("fails with a clear table against targets that never become healthy, within its timeout", async () => {
    const file = config(
      "never",
      `verify:
  timeout: 2s
  interval: 100ms
  attempt_timeout: 500ms
  targets:
    - name: api
      http: { url: "${web}/down" }
    - name: hangs
      http: { url: "http://127.0.0.1:${silent}/healthz" }
    - name: ok
      http: { url: "${web}/" }
`,
    );
    const result = await verify(["-c", file]);
    expectExit(result, 1);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(/^TARGET\s+KIND\s+ENDPOINT\s+RESULT\s+ATTEMPTS\s+ELAPSED\s+DETAIL$/);
    expect(lines.find((l) => l.startsWith("api "))).toMatch(/\sFAILED\s.*HTTP 500 \(verify timeout 2s\)$/);
    expect(lines.find((l) => l.startsWith("hangs "))).toMatch(/\sFAILED\s.*timed out after \d+ms \(verify timeout 2s\)$/);
    expect(lines.find((l) => l.startsWith("ok "))).toMatch(/\sOK\s+1\s.*HTTP 200$/);
    expect(result.stdout).toMatch(/Verify failed after \S+: 2 of 3 target\(s\) unhealthy: api, hangs\.\n$/);
    expect(result.stderr).toContain("hangs: attempt 1 failed: timed out after 500ms");
  });

  it("checks TCP targets: an open port passes, a closed one fails once out of attempts", async () => {
    const file = config(
      "tcp",
      `verify:
  interval: 50ms
  targets:
    - name: db
      tcp: { host: 127.0.0.1, port: ${silent} }
    - name: cache
      tcp: { host: 127.0.0.1, port: ${closed} }
      attempts: 2
`,
    );
    const result = await verify(["-c", file]);
    expectExit(result, 1);
    expect(result.stdout).toMatch(new RegExp(`\\ndb\\s+tcp\\s+127\\.0\\.0\\.1:${silent}\\s+OK\\s+1\\s+\\S+\\s+connected\\n`));
    expect(result.stdout).toMatch(new RegExp(`\\ncache\\s+tcp\\s+127\\.0\\.0\\.1:${closed}\\s+FAILED\\s+2/2\\s+\\S+\\s+connection refused \\(out of attempts\\)\\n`));
  });

  it("a body that lacks the text fails with what it lacked; --json is one document", async () => {
    const file = config(
      "body",
      `verify:
  interval: 50ms
  attempts: 2
  targets:
    - name: api
      http: { url: "${web}/degraded", body: "status: ok" }
    - name: db
      tcp: { host: 127.0.0.1, port: ${silent} }
`,
    );
    const { result, value } = await sandbox.cli.json<VerifyJson>(["deploy", "verify", "-c", file], { env: NOT_GHA });
    expectExit(result, 1);
    expect(value).toMatchObject({ ok: false, config: file, env: "", timeout_ms: 60_000 });
    expect(value.targets).toEqual([
      expect.objectContaining({ name: "api", kind: "http", endpoint: `${web}/degraded`, ok: false, attempts: 2, max_attempts: 2, status: 200, error: 'body did not contain "status: ok"', gave_up: "attempts" }),
      expect.objectContaining({ name: "db", kind: "tcp", endpoint: `127.0.0.1:${silent}`, ok: true, attempts: 1, max_attempts: 2, detail: "connected" }),
    ]);
  });

  it("--env applies a target's overrides and leaves out targets disabled there; --target picks targets", async () => {
    const file = config(
      "envs",
      `verify:
  interval: 50ms
  attempts: 2
  targets:
    - name: api
      http: { url: "${web}/down" }
      environments:
        staging: { http: { url: "${web}/" } }
    - name: legacy
      tcp: { host: 127.0.0.1, port: ${closed} }
      environments:
        staging: null
`,
    );
    const base = await sandbox.cli.json<VerifyJson>(["deploy", "verify", "-c", file], { env: NOT_GHA });
    expectExit(base.result, 1);
    expect(base.value.targets.map((t) => [t.name, t.ok])).toEqual([
      ["api", false],
      ["legacy", false],
    ]);

    const staging = await sandbox.cli.json<VerifyJson>(["deploy", "verify", "-c", file, "--env", "staging"], { env: NOT_GHA });
    expectExit(staging.result, 0);
    expect(staging.value).toMatchObject({ ok: true, env: "staging" });
    expect(staging.value.targets.map((t) => [t.name, t.endpoint, t.ok])).toEqual([["api", `${web}/`, true]]);

    const one = await sandbox.cli.json<VerifyJson>(["deploy", "verify", "-c", file, "--target", "legacy"], { env: NOT_GHA });
    expect(one.value.targets.map((t) => t.name)).toEqual(["legacy"]);

    const unknown = await verify(["-c", file, "--target", "api,nope"]);
    expectExit(unknown, 64);
    expect(unknown.stderr).toContain(`Error: --target "nope" is not a target in ${file} (targets: api, legacy)`);
    const disabled = await verify(["-c", file, "--env", "staging", "--target", "legacy"]);
    expectExit(disabled, 64);
    expect(disabled.stderr).toContain(`--target "legacy" is disabled in environment "staging" in ${file} (targets in environment "staging": api)`);
  });

  it("under GitHub Actions: ::error for each failed target at its line, and a step summary table; credentials never printed", async () => {
    const file = config(
      "gha",
      `verify:
  interval: 50ms
  attempts: 2
  targets:
    - name: api
      http: { url: "http://deploy:${PASSWORD}@127.0.0.1:${new URL(web).port}/?token=${TOKEN}" }
    - name: cache
      tcp: { host: 127.0.0.1, port: ${closed} }
`,
    );
    const summary = join(sandbox.dir, "step-summary.md");
    writeFileSync(summary, "");
    const result = await verify(["-c", file], { GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: summary, CI: "true" });
    expectExit(result, 1);
    expect(result.stderr).toContain("::group::wfctl deploy verify: progress");
    expect(result.stderr).toContain(`::error file=${file},line=8,col=7,title=wfctl::field "verify.targets.cache": target "cache" is unhealthy: connection refused (out of attempts)`);
    expect(result.stderr).not.toMatch(/::error[^\n]*target "api"/);
    const markdown = readFileSync(summary, "utf8");
    expect(markdown).toContain("### wfctl deploy verify");
    expect(markdown).toContain("**1 of 2 target(s) unhealthy.**");
    expect(markdown).toContain("| ✅ | `api` | http | http://***@127.0.0.1:");
    expect(markdown).toContain("/?token=*** | 1/2 |");
    expect(markdown).toMatch(/\| ❌ \| `cache` \| tcp \| 127\.0\.0\.1:\d+ \| 2\/2 \| \S+ \| connection refused \(out of attempts\) \|/);
    for (const text of [result.stdout, result.stderr, markdown]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(TOKEN);
    }
  });

  it("Ctrl-C stops it at once, in the middle of a long interval, and still prints the table (exit 130)", async () => {
    const file = config(
      "interrupt",
      `verify:
  timeout: 2h
  interval: 1h
  targets:
    - name: cache
      tcp: { host: 127.0.0.1, port: ${closed} }
`,
    );
    const result = await new Promise<CliResult>((resolve, reject) => {
      const child = spawn(process.execPath, [WFCTL, "deploy", "verify", "-c", file], { env: { ...process.env, ...NOT_GHA, WFCTL_SOCKET: sandbox.cli.socket } });
      let stdout = "";
      let stderr = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`deploy verify did not stop on SIGINT\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, 20_000);
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString("utf8");
        // Interrupt once the first attempt has failed: the target is now waiting out its hour.
        if (stderr.includes("next in 1h")) child.kill("SIGINT");
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
    expectExit(result, 130);
    expect(result.stdout).toMatch(/\ncache\s+tcp\s+\S+\s+FAILED\s+1\s+\S+\s+connection refused \(interrupted\)\n/);
    expect(result.stdout).toContain("Verify interrupted after");
    expect(result.stderr).toContain("Interrupt received: stopping the health checks; the table shows what was found so far. Press Ctrl-C again to quit now.");
    expect(result.stderr).not.toContain("recorded in state");
  });

  it("says so when the file has no verify: section, or no target in the environment", async () => {
    const none = config("none", "");
    const result = await verify(["-c", none]);
    expectExit(result, 1);
    expect(result.stderr).toContain(`Error: ${none} has no verify: section; declare the health checks under verify.targets`);
    const allOff = config("all-off", `verify:\n  targets:\n    - name: api\n      http: { url: "${web}/" }\n      environments: { prod: null }\n`);
    const off = await verify(["-c", allOff, "--env", "prod"]);
    expectExit(off, 1);
    expect(off.stderr).toContain(`Error: ${allOff}: no health check to run: every target is disabled in environment "prod" (api)`);
  });

  it("a bad verify: section fails infra plan too, naming file:line and the field of every problem", async () => {
    const file = config(
      "bad",
      `verify:
  timeout: soon
  targets:
    - name: api
      http: { url: "${web}/", status: 42 }
    - name: db
      tcp: { host: db.internal }
`,
    );
    for (const args of [["infra", "plan", "-c", file], ["deploy", "verify", "-c", file]]) {
      const result = await sandbox.cli.run(args, { env: NOT_GHA });
      expectExit(result, 1);
      expect(result.stderr).toContain(`Error: invalid configuration ${file}: 3 problems:`);
      expect(result.stderr).toContain(`${file}:3:12: field "verify.timeout": must be a duration greater than zero`);
      expect(result.stderr).toContain(`${file}:6:${33 + web.length}: field "verify.targets.api.http.status": must be an HTTP status code (200)`);
      expect(result.stderr).toContain(`${file}:8:12: field "verify.targets.db.tcp.port": is required`);
    }
  });
});
