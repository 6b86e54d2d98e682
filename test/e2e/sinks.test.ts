// Secret sinks through the real CLI: `wfctl infra outputs --sync` (and apply,
// for sinks marked on_apply) writes each output's value straight to its sinks.
// github_secret goes to a local GitHub API server that holds a real key pair:
// the test opens each received sealed box with the private key and finds the
// value, and finds the value nowhere in wfctl's stdout or stderr. github_env
// appends to $GITHUB_ENV with the delimiter syntax, masking first.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { type GitHubApiServer, startGitHubApi } from "../servers/github-api.js";
import { parseCommandFile } from "../helpers/actions-runner.js";

const SECRET = `db-${randomBytes(12).toString("hex")}-SECRET`;
const TOKEN = `ghs_${randomBytes(16).toString("hex")}`;

const config = (api: string) => `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: db
    type: local.file
    provider: local
    config: { path: db.txt, content: "${SECRET}" }
  - name: notes
    type: local.file
    provider: local
    config: { path: notes.txt, content: "multi\\nline\\n" }

outputs:
  db_url:
    source: db.content
    sensitive: true
    sinks:
      - type: github_secret
        repository: octo-org/app
        api_url: ${api}
        token_env: WFT_GH_TOKEN
      - type: github_secret
        name: staging_db_url
        repository: octo-org/app
        environment: staging
        api_url: ${api}
        token_env: WFT_GH_TOKEN
      - type: github_env
        name: DB_URL
  notes_text:
    source: notes.content
    sinks:
      - type: github_env
        on_apply: true
  notes_path:
    source: notes.absolute_path
`;

/** Outside GitHub Actions, whatever runs the tests; no token. */
const PLAIN = { GITHUB_ACTIONS: "", GITHUB_ENV: "", GITHUB_STEP_SUMMARY: "", GITHUB_REPOSITORY: "", WFT_GH_TOKEN: "", CI: "true" };

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const expectNoSecret = (result: CliResult) => {
  expect(result.stdout).not.toContain(SECRET);
  expect(result.stderr).not.toContain(SECRET);
};

/** The variables a $GITHUB_ENV file sets, parsed as the runner does. */
const envFile = (text: string): Record<string, string> => parseCommandFile(text, "$GITHUB_ENV");

describe("secret sinks", () => {
  const sandbox = cliSandbox("wft-sinks-");
  let api: GitHubApiServer;
  let file: string;
  let n = 0;
  /** A fresh $GITHUB_ENV file for one "step". */
  const stepEnvFile = () => {
    const path = join(sandbox.dir, `github-env-${++n}`);
    writeFileSync(path, "");
    return path;
  };

  beforeAll(async () => {
    api = await startGitHubApi(TOKEN);
    file = join(sandbox.dir, "infra.yaml");
    writeFileSync(file, config(api.url));
    // The daemon starts here, without the token: sinks run in the client, with the step's environment.
    const env = stepEnvFile();
    const applied = await sandbox.cli.run(["infra", "apply", "-c", file, "--auto-approve"], { env: { ...PLAIN, GITHUB_ENV: env } });
    expectExit(applied, 0);
    // (This first plan shows the value: it is a plain file's content here. In a real deployment it is a
    // provider's output, such as a generated password or a connection string.)
    // Only the sink marked on_apply.
    expect(applied.stdout).toMatch(/notes_text\s+github_env\s+\$GITHUB_ENV notes_text\s+written/);
    expect(envFile(readFileSync(env, "utf8"))).toEqual({ notes_text: "multi\nline\n" });
    expect(api.received).toEqual([]);
  });
  afterAll(() => api?.close());

  it("outputs --sync encrypts each github_secret to the repository's and the environment's key; the server's private key opens them to the value", async () => {
    const env = stepEnvFile();
    const synced = await sandbox.cli.run(["infra", "outputs", "--sync", "db_url", "-c", file], { env: { ...PLAIN, WFT_GH_TOKEN: TOKEN, GITHUB_ENV: env } });
    expectExit(synced, 0);
    expectNoSecret(synced);
    expect(synced.stdout).toMatch(/db_url\s+github_secret\s+GitHub secret DB_URL in octo-org\/app at http:\/\/127\.0\.0\.1:\d+\s+written/);
    expect(synced.stdout).toMatch(/db_url\s+github_secret\s+GitHub secret STAGING_DB_URL in octo-org\/app \(environment staging\) at \S+\s+written/);
    expect(synced.stdout).toContain("3 of 3 sinks written.");

    expect(api.received.map((r) => [r.scope, r.name])).toEqual([
      ["octo-org/app", "DB_URL"],
      ["octo-org/app environment staging", "STAGING_DB_URL"],
    ]);
    for (const secret of api.received) {
      expect(secret.encryptedValue).not.toContain(SECRET);
      expect(api.decrypt(secret.encryptedValue)).toBe(SECRET);
    }
    // Each public key was fetched once.
    expect(api.requests.filter((r) => r.startsWith("GET"))).toEqual([
      "GET /repos/octo-org/app/actions/secrets/public-key",
      "GET /repos/octo-org/app/environments/staging/secrets/public-key",
    ]);
    // github_env: the value, for later steps, in the delimiter syntax.
    expect(envFile(readFileSync(env, "utf8"))["DB_URL"]).toBe(SECRET);
  });

  it("under GitHub Actions, masks the value before anything prints and uses $GITHUB_REPOSITORY and $GITHUB_API_URL when the sink leaves them out", async () => {
    const defaults = join(sandbox.dir, "defaults.yaml");
    writeFileSync(
      defaults,
      config(api.url).replace(/        repository: octo-org\/app\n        api_url: \S+\n        token_env: WFT_GH_TOKEN\n      - type: github_secret\n        name: staging_db_url/, "      - type: github_secret\n        name: staging_db_url"),
    );
    expect(readFileSync(defaults, "utf8")).toContain("      - type: github_secret\n      - type: github_secret");
    // With the defaults, the first sink's token is $GITHUB_TOKEN; the repository and API come from the runner's variables.
    const env = stepEnvFile();
    const stepSummary = stepEnvFile();
    const before = api.received.length;
    const synced = await sandbox.cli.run(["infra", "outputs", "--sync", "-c", defaults], {
      env: { ...PLAIN, GITHUB_ACTIONS: "true", GITHUB_ENV: env, GITHUB_STEP_SUMMARY: stepSummary, GITHUB_REPOSITORY: "octo-org/other", GITHUB_API_URL: api.url, GITHUB_TOKEN: TOKEN, WFT_GH_TOKEN: TOKEN },
    });
    expectExit(synced, 0);
    expect(synced.stdout).not.toContain(SECRET);
    const lines = synced.stderr.split("\n").filter((l) => l !== "");
    const holding = lines.filter((l) => l.includes(SECRET));
    expect(holding).toEqual([`::add-mask::${SECRET}`]);
    expect(lines[0]).toBe(`::add-mask::${SECRET}`);
    expect(api.received.slice(before).map((r) => [r.scope, r.name])).toEqual([
      ["octo-org/other", "DB_URL"],
      ["octo-org/app environment staging", "STAGING_DB_URL"],
    ]);
    const vars = envFile(readFileSync(env, "utf8"));
    expect(vars["DB_URL"]).toBe(SECRET);
    expect(vars["notes_text"]).toBe("multi\nline\n");
    // The step summary: where each value went, never the value.
    const summary = readFileSync(stepSummary, "utf8");
    expect(summary).toContain("### wfctl output sinks");
    expect(summary).toContain("**4 sink(s) written.**");
    expect(summary).toContain("| ✅ | `db_url` | github_secret | GitHub secret DB_URL in octo-org/other at");
    expect(summary).not.toContain(SECRET);
  });

  it("reports each sink that fails, with a code and what to do, writes the others, and exits non-zero", async () => {
    const env = stepEnvFile();
    // Neither a token nor $GITHUB_ENV: every sink fails before any request, each saying what it lacks.
    const before = api.requests.length;
    const noToken = await sandbox.cli.json<{ sinks: { output: string; type: string; ok: boolean; error?: { code: string; message: string } }[] }>(
      ["infra", "outputs", "--sync", "db_url", "-c", file],
      { env: PLAIN },
    );
    expectExit(noToken.result, 1);
    expectNoSecret(noToken.result);
    expect(api.requests.length).toBe(before);
    expect(noToken.value.sinks.map((s) => [s.type, s.ok, s.error?.code])).toEqual([
      ["github_secret", false, "FAILED_PRECONDITION"],
      ["github_secret", false, "FAILED_PRECONDITION"],
      ["github_env", false, "FAILED_PRECONDITION"],
    ]);
    expect(noToken.value.sinks[0]?.error?.message).toMatch(/^output "db_url", github_secret sink db_url \(.*infra\.yaml:\d+\): \$WFT_GH_TOKEN is not set/);
    expect(noToken.value.sinks[2]?.error?.message).toMatch(/github_env sink DB_URL \(.*\): \$GITHUB_ENV is not set: this sink works only in a GitHub Actions step/);

    // The API refuses: its status and message, and a hint.
    api.failUnder("/repos/octo-org/app/environments/", 403, "Resource not accessible by integration");
    const refused = await sandbox.cli.run(["infra", "outputs", "--sync", "db_url", "-c", file], { env: { ...PLAIN, WFT_GH_TOKEN: TOKEN, GITHUB_ENV: env } });
    expectExit(refused, 1);
    expectNoSecret(refused);
    expect(refused.stdout).toMatch(/STAGING_DB_URL .* FAILED \(PERMISSION_DENIED\)/);
    expect(refused.stdout).toContain("2 of 3 sinks written.");
    expect(refused.stdout).toContain('fetching the secrets public key: HTTP 403: Resource not accessible by integration (the token may not manage secrets: it needs "Secrets: write" or the repo scope)');
    api.heal();

    // A bad token.
    const bad = await sandbox.cli.run(["infra", "outputs", "--sync", "db_url", "-c", file], { env: { ...PLAIN, WFT_GH_TOKEN: "wrong", GITHUB_ENV: env } });
    expectExit(bad, 1);
    expect(bad.stdout).toContain("HTTP 401: Bad credentials (the token is invalid or expired)");
    expect(bad.stdout + bad.stderr).not.toContain("wrong");
  });

  it("apply writes the sinks marked on_apply after a complete apply, and every sink with --sync-outputs; --json adds a sinks line after the summary", async () => {
    const env = stepEnvFile();
    writeFileSync(file, config(api.url).replace('content: "multi\\nline\\n"', 'content: "changed\\n"'));
    const applied = await sandbox.cli.run(["infra", "apply", "-c", file, "--auto-approve"], { env: { ...PLAIN, GITHUB_ENV: env } });
    expectExit(applied, 0);
    expect(applied.stdout).toMatch(/notes_text\s+github_env\s+\$GITHUB_ENV notes_text\s+written/);
    expect(applied.stdout).toContain("1 of 1 sink written.");
    expect(envFile(readFileSync(env, "utf8"))).toEqual({ notes_text: "changed\n" });

    const all = stepEnvFile();
    const before = api.received.length;
    const { result, events, summary } = await sandbox.cli.events(["infra", "apply", "-c", file, "--auto-approve", "--sync-outputs"], {
      env: { ...PLAIN, WFT_GH_TOKEN: TOKEN, GITHUB_ENV: all },
    });
    expectExit(result, 0);
    expectNoSecret(result);
    expect(summary["ok"]).toBe(true);
    const sinks = events.at(-1);
    expect(sinks?.type).toBe("sinks");
    expect((sinks?.["sinks"] as { ok: boolean }[]).map((s) => s.ok)).toEqual([true, true, true, true]);
    expect(api.received.slice(before).map((r) => api.decrypt(r.encryptedValue))).toEqual([SECRET, SECRET]);
    expect(envFile(readFileSync(all, "utf8"))).toEqual({ DB_URL: SECRET, notes_text: "changed\n" });
  });

  it("refuses --sync for an output without sinks, and with --show-sensitive", async () => {
    const none = await sandbox.cli.run(["infra", "outputs", "--sync", "notes_path", "-c", file], { env: PLAIN });
    expectExit(none, 64);
    expect(none.stderr).toContain('output "notes_path" declares no sinks, so --sync has nothing to write');
    const both = await sandbox.cli.run(["infra", "outputs", "--sync", "--show-sensitive", "-c", file], { env: PLAIN });
    expectExit(both, 64);
    expect(both.stderr).toContain("--sync and --show-sensitive do not go together");
  });

  it("apply --sync-outputs on a configuration without sinks says there is nothing to write", async () => {
    const dir = join(sandbox.dir, "nosinks");
    mkdirSync(dir);
    const plain = join(dir, "infra.yaml");
    writeFileSync(plain, "modules:\n  - { name: local, type: iac.provider, config: { provider: local, root: out } }\n  - { name: n, type: local.file, provider: local, config: { path: n.txt, content: x } }\n");
    const applied = await sandbox.cli.run(["infra", "apply", "-c", plain, "--auto-approve", "--sync-outputs"], { env: PLAIN });
    expectExit(applied, 0);
    expect(applied.stderr).toContain(`--sync-outputs: ${plain} declares no output sinks; nothing to write.`);
    expect(applied.stdout).not.toContain("sink");
  });

  it("checks sinks with the configuration: each problem names the file, line and field", async () => {
    const bad = join(sandbox.dir, "bad-sinks.yaml");
    writeFileSync(
      bad,
      `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: db
    type: local.file
    provider: local
    config: { path: db.txt, content: x }
outputs:
  db-url:
    source: db.content
    sinks:
      - type: github_secret
      - type: vault
      - type: github_env
        name: DB_URL
        repository: octo/app
  other:
    source: db.path
    sinks:
      - type: github_secret
        name: GITHUB_THING
        api_url: ftp://example.com
      - type: github_env
        name: DB_URL
`,
    );
    const result = await sandbox.cli.run(["infra", "plan", "-c", bad], { env: PLAIN });
    expectExit(result, 1);
    const problem = (line: number, field: string, message: string) =>
      expect(result.stderr).toMatch(new RegExp(`${escape(bad)}:${line}:\\d+: field "${escape(field)}": ${escape(message)}`));
    problem(13, "outputs.db-url.sinks.0.name", `the output's name "db-url" is not a GitHub secret name: set name`);
    problem(14, "outputs.db-url.sinks.1.type", `unknown sink type "vault" (sink types: github_secret, github_env)`);
    problem(15, "outputs.db-url.sinks.2", `unknown key(s) "repository"`);
    problem(22, "outputs.other.sinks.0.name", "must use only letters, digits and '_', not start with a digit, and not start with GITHUB_");
    problem(23, "outputs.other.sinks.0.api_url", "must be an http(s) URL, e.g. https://github.example.com/api/v3");
  });

  it("refuses two sinks that write the same variable", async () => {
    const twice = join(sandbox.dir, "twice.yaml");
    writeFileSync(twice, `${config(api.url)}    sinks:\n      - type: github_env\n        name: DB_URL\n`);
    const result = await sandbox.cli.run(["infra", "plan", "-c", twice], { env: PLAIN });
    expectExit(result, 1);
    expect(result.stderr).toMatch(new RegExp(`${escape(twice)}:\\d+:\\d+: field "outputs\\.notes_path\\.sinks\\.0": writes the same variable DB_URL as the sink at ${escape(twice)}:\\d+`));
  });
});
