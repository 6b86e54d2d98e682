// Reading state backend plugins' settings (pure logic): the shared
// BackendConfig rules, and the gcs plugin's credentials, prefix and endpoint.
import { describe, expect, it } from "vitest";
import { BackendConfig } from "../../plugins/sdk/backend-config.js";
import { gcsSettings } from "../../plugins/state-gcs/settings.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { JsonObject } from "../../proto/json.js";

function failure(fn: () => unknown): WfctlError {
  try {
    fn();
  } catch (err) {
    if (err instanceof WfctlError) return err;
    throw err;
  }
  throw new Error("expected a WfctlError");
}

describe("BackendConfig", () => {
  const read = (config: JsonObject, env: NodeJS.ProcessEnv = {}) =>
    new BackendConfig("x backend", config, ["a", "flag", "url", "key_env"], { key: "key_env" }, env);

  it("refuses unknown keys listing the known ones, and literal secrets naming the *_env field, never echoing them", () => {
    const unknown = failure(() => read({ b: 1 }));
    expect(unknown.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(unknown.message).toBe('x backend: unknown field "config.b" (known: a, flag, url, key_env)');
    expect(unknown.details[0]?.field).toBe("config.b");
    const secret = failure(() => read({ key: "hunter2" }));
    expect(secret.message).toContain('field "config.key" is refused');
    expect(secret.message).toContain("key_env");
    expect(secret.message).not.toContain("hunter2");
  });

  it("reads typed fields, and says what is wrong with each", () => {
    expect(read({ a: "v", flag: true }).string("a")).toBe("v");
    expect(read({}).boolean("flag", true)).toBe(true);
    expect(failure(() => read({ a: 3 }).string("a")).message).toBe('x backend: field "config.a" must be a non-empty string');
    expect(failure(() => read({ flag: "yes" }).boolean("flag", false)).message).toContain('"config.flag" must be true or false, got "yes"');
    expect(read({ url: "https://h:1/p" }).url("url", "e")?.href).toBe("https://h:1/p");
    expect(failure(() => read({ url: "h:1" }).url("url", "https://example")).message).toContain('"config.url" must be an http:// or https:// URL');
    const withSecret = failure(() => read({ url: "https://u:hunter2@h/" }).url("url", "e"));
    expect(withSecret.message).toContain("must not carry credentials");
    expect(withSecret.message).not.toContain("hunter2");
  });

  it("reads a secret from the variable a *_env field names, refusing bad names and unset variables", () => {
    expect(read({ key_env: "K" }, { K: "s" }).secretFromEnv("key_env")).toEqual({ name: "K", value: "s" });
    expect(read({}).secretFromEnv("key_env")).toBeUndefined();
    expect(failure(() => read({ key_env: "not a name" }).secretFromEnv("key_env")).message).toContain("must name an environment variable");
    expect(failure(() => read({ key_env: "K" }, { K: "" }).secretFromEnv("key_env")).message).toContain("names the environment variable K, which is not set");
  });
});

describe("gcs settings", () => {
  const key = JSON.stringify({ type: "service_account", private_key: "hunter2" });

  it("defaults: prefix wfctl/, preconditions required, Application Default Credentials", () => {
    expect(gcsSettings({ bucket: "b-1" }, "/work")).toEqual({ bucket: "b-1", prefix: "wfctl/", conditionalWrites: true, credentials: { kind: "default" } });
  });

  it("normalises prefix and endpoint; a relative key_file is relative to the configuration's directory", () => {
    const s = gcsSettings({ bucket: "b.example.com", prefix: "team", api_endpoint: "http://127.0.0.1:9199/", key_file: "keys/sa.json" }, "/work/infra");
    expect(s.prefix).toBe("team/");
    expect(s.apiEndpoint).toBe("http://127.0.0.1:9199");
    expect(s.credentials).toEqual({ kind: "key_file", path: "/work/infra/keys/sa.json" });
    expect(gcsSettings({ bucket: "bbb", prefix: "" }, "/").prefix).toBe("");
    expect(gcsSettings({ bucket: "bbb", key_file: "/etc/sa.json" }, "/work").credentials).toEqual({ kind: "key_file", path: "/etc/sa.json" });
  });

  it("reads a key from credentials_json_env, refusing one that is not a credentials object without echoing it", () => {
    expect(gcsSettings({ bucket: "bbb", credentials_json_env: "SA" }, "/", { SA: key }).credentials).toMatchObject({ kind: "env", name: "SA" });
    for (const value of ["hunter2", '["hunter2"]', '{"private_key":"hunter2"}']) {
      const err = failure(() => gcsSettings({ bucket: "bbb", credentials_json_env: "SA" }, "/", { SA: value }));
      expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(err.message).toContain('"config.credentials_json_env" names the environment variable SA');
      expect(err.message).not.toContain("hunter2");
    }
  });

  it("refuses bucket URLs, bad names and a leading slash in the prefix", () => {
    for (const bucket of ["gs://b", "B", "a", "-ab", "a/b", "x".repeat(64)]) {
      expect(failure(() => gcsSettings({ bucket }, "/")).message, bucket).toContain('"config.bucket" must be a bucket name');
    }
    expect(failure(() => gcsSettings({ bucket: "bbb", prefix: "/x" }, "/")).message).toContain('"config.prefix" must not start with "/"');
  });
});
