// Secret sinks' pure parts (where a secret goes, the $GITHUB_ENV entry) and
// the GitHub secret writer against the local GitHub API server.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutputSinkSchema, type OutputSink } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { ErrorCode } from "../../proto/errors.js";
import { thrownBy } from "../helpers/errors.js";
import { envFileEntry, writeGitHubEnv } from "../../client/sinks/github-env.js";
import { DEFAULT_API_URL, GitHubSecretWriter, describeSecret, secretDestination } from "../../client/sinks/github-secret.js";
import { type GitHubApiServer, startGitHubApi } from "../servers/github-api.js";

/** Asserts that `fn` throws a WfctlError with `code` and a message matching `message`. */
function expectWfctlError(fn: () => unknown, code: ErrorCode, message: RegExp): void {
  const err = thrownBy(fn);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
}

const sink = (fields: Partial<Omit<OutputSink, "$typeName" | "$unknown">>): OutputSink =>
  create(OutputSinkSchema, { type: "github_secret", name: "db_url", location: "infra.yaml:12", ...fields });

describe("secretDestination", () => {
  it("takes the repository and API from the sink, else from $GITHUB_REPOSITORY and $GITHUB_API_URL, else api.github.com", () => {
    const env = { GITHUB_REPOSITORY: "octo/runner", GITHUB_API_URL: "https://ghe.example.com/api/v3/" };
    expect(secretDestination("o", sink({ repository: "octo/app", apiUrl: "https://h/api/v3" }), env)).toEqual({
      apiUrl: "https://h/api/v3",
      owner: "octo",
      repo: "app",
      environment: "",
      name: "DB_URL",
      tokenEnv: "GITHUB_TOKEN",
    });
    expect(secretDestination("o", sink({ environment: "prod", tokenEnv: "GH" }), env)).toMatchObject({
      apiUrl: "https://ghe.example.com/api/v3",
      owner: "octo",
      repo: "runner",
      environment: "prod",
      tokenEnv: "GH",
    });
    const plain = secretDestination("o", sink({ repository: "a/b" }), {});
    expect(plain.apiUrl).toBe(DEFAULT_API_URL);
    expect(describeSecret(plain)).toBe("GitHub secret DB_URL in a/b");
    expect(describeSecret({ ...plain, environment: "prod", apiUrl: "http://x" })).toBe("GitHub secret DB_URL in a/b (environment prod) at http://x");
  });

  it("refuses a sink with no repository anywhere, naming the output, the sink and where it is declared", () => {
    expectWfctlError(() => secretDestination("db", sink({}), {}), ErrorCode.FAILED_PRECONDITION, /^output "db", github_secret sink db_url \(infra\.yaml:12\): no repository/);
    expectWfctlError(() => secretDestination("db", sink({}), { GITHUB_REPOSITORY: "just-owner" }), ErrorCode.FAILED_PRECONDITION, /\(got "just-owner"\)/);
  });
});

describe("github_env", () => {
  it("writes NAME<<DELIMITER, the value's lines, DELIMITER, with a fresh delimiter each time", () => {
    expect(envFileEntry("A", "one\ntwo", "EOF_1")).toBe("A<<EOF_1\none\ntwo\nEOF_1\n");
    const entry = envFileEntry("A", "x");
    expect(entry).toMatch(/^A<<ghadelimiter_[0-9a-f-]{36}\nx\nghadelimiter_[0-9a-f-]{36}\n$/);
    expect(entry).not.toBe(envFileEntry("A", "x"));
    // A value holding the delimiter as a line would end early: refused.
    expectWfctlError(() => envFileEntry("A", "a\nEOF_1\nb", "EOF_1"), ErrorCode.INTERNAL, /contains the delimiter/);
  });

  it("appends to $GITHUB_ENV and says when it is not set", () => {
    const dir = mkdtempSync(join(tmpdir(), "wft-ghenv-"));
    try {
      const file = join(dir, "env");
      const env = sink({ type: "github_env", name: "URL" });
      writeGitHubEnv("url", env, "a", { GITHUB_ENV: file });
      writeGitHubEnv("url", env, "b\nc", { GITHUB_ENV: file });
      const text = readFileSync(file, "utf8");
      expect(text.match(/^URL<</gm)).toHaveLength(2);
      expect(text).toContain("\na\n");
      expect(text).toContain("\nb\nc\n");
      expectWfctlError(() => writeGitHubEnv("url", env, "a", {}), ErrorCode.FAILED_PRECONDITION, /github_env sink URL \(infra\.yaml:12\): \$GITHUB_ENV is not set/);
      expectWfctlError(() => writeGitHubEnv("url", env, "a", { GITHUB_ENV: join(dir, "missing", "env") }), ErrorCode.SINK_FAILED, /cannot append to \$GITHUB_ENV .*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("GitHubSecretWriter", () => {
  const token = `ghs_${randomBytes(8).toString("hex")}`;
  let api: GitHubApiServer;
  beforeAll(async () => {
    api = await startGitHubApi(token);
  });
  afterAll(() => api.close());

  const write = (writer: GitHubSecretWriter, fields: Parameters<typeof sink>[0], value: string) => {
    const s = sink({ apiUrl: api.url, repository: "o/r", tokenEnv: "T", ...fields });
    return writer.write("db", s, secretDestination("db", s, {}), value);
  };

  it("fetches each public key once, encrypts to it, and updates a secret that exists", async () => {
    const writer = new GitHubSecretWriter({ T: token }, new AbortController().signal);
    await write(writer, { name: "a" }, "first");
    await write(writer, { name: "b" }, "second");
    await write(writer, { name: "a" }, "third");
    expect(api.requests.filter((r) => r.startsWith("GET"))).toEqual(["GET /repos/o/r/actions/secrets/public-key"]);
    expect(api.received.map((r) => [r.name, api.decrypt(r.encryptedValue)])).toEqual([
      ["A", "first"],
      ["B", "second"],
      ["A", "third"],
    ]);
  });

  it("maps API failures to codes, and a key that is not one to SINK_FAILED", async () => {
    const writer = new GitHubSecretWriter({ T: token }, new AbortController().signal);
    api.failUnder("/repos/o/gone/", 404, "Not Found");
    api.failUnder("/repos/o/down/", 502, "Bad Gateway");
    await expect(write(writer, { repository: "o/gone" }, "v")).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND, message: expect.stringContaining("HTTP 404: Not Found (no such repository or environment") });
    await expect(write(writer, { repository: "o/down" }, "v")).rejects.toMatchObject({ code: ErrorCode.SINK_FAILED, message: expect.stringContaining("HTTP 502: Bad Gateway") });
    // Nothing listens on the port any more: the request fails, named.
    const closed = await startGitHubApi(token);
    await closed.close();
    await expect(write(writer, { apiUrl: closed.url }, "v")).rejects.toMatchObject({ code: ErrorCode.SINK_FAILED, message: expect.stringMatching(/GET http:\/\/127\.0\.0\.1:\d+\/repos\/o\/r\/actions\/secrets\/public-key failed: ECONNREFUSED/) });
    api.heal();
  });

  it("stops when interrupted", async () => {
    const interrupt = new AbortController();
    interrupt.abort();
    const writer = new GitHubSecretWriter({ T: token }, interrupt.signal);
    await expect(write(writer, { name: "late" }, "v")).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
  });
});
