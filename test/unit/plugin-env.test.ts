// The environment a plugin starts with: the base (the daemon's), what it
// declares it reads and what its configuration names (both from the request,
// the wfctl command's environment), its wfctl.yaml env and the handshake, and
// nothing else; and the digest that keys its instance by what it was given.
import { describe, expect, it } from "vitest";
import { builtinPlugins, forRequest, specIdentity } from "../../daemon/supervisor/catalog.js";
import { BASE_ENV, envNamesInConfig, environmentDigest, givenEnvironment, pluginEnvironment } from "../../daemon/supervisor/plugin-env.js";
import { instanceKey } from "../../daemon/supervisor/supervisor.js";
import { envPatternProblems, matchesEnvPattern, normalizeEnvPatterns } from "../../proto/env-patterns.js";

const DAEMON_ENV = {
  PATH: "/usr/bin:/bin",
  HOME: "/home/ci",
  LANG: "C.UTF-8",
  LC_ALL: "C.UTF-8",
  TMPDIR: "/tmp",
  OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
  ADMIN_DATABASE_URL: "postgres://u:secret@h/db",
  FOO_SECRET: "x",
  AWS_REGION: "eu-west-1",
  AWS_ACCESS_KEY_ID: "AKIA0000",
  AWSOME: "not an AWS_ variable",
  DB_PASSWORD: "hunter2",
  NODE_OPTIONS: "--import=/tmp/evil.mjs",
  NODE_EXTRA_CA_CERTS: "/etc/ca.pem",
  WFCTL_PLUGIN_SOCKET_DIR: "/tmp/daemon-own",
  UNSET: undefined,
};
/** The wfctl command's environment (Target.environment): the step's own values. */
const REQUEST_ENV: Record<string, string> = {
  AWS_REGION: "eu-central-1",
  AWS_ACCESS_KEY_ID: "AKIA-STEP",
  AWSOME: "not an AWS_ variable",
  NODE_EXTRA_CA_CERTS: "/etc/step-ca.pem",
  DB_PASSWORD: "step-password",
  FOO_SECRET: "x",
};
const HANDSHAKE = { WFCTL_PLUGIN_MAGIC_COOKIE: "c", WFCTL_PLUGIN_SOCKET_DIR: "/tmp/wfctl-p-1" };

describe("a plugin's environment", () => {
  it("holds the base and the handshake, and none of the daemon's other variables", () => {
    const env = pluginEnvironment({ readsEnv: ["AWS_*"], configEnv: ["DB_PASSWORD"], env: {} }, DAEMON_ENV, HANDSHAKE);
    expect(env).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/home/ci",
      LANG: "C.UTF-8",
      LC_ALL: "C.UTF-8",
      TMPDIR: "/tmp",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
      WFCTL_PLUGIN_MAGIC_COOKIE: "c",
      WFCTL_PLUGIN_SOCKET_DIR: "/tmp/wfctl-p-1",
    });
  });

  it("adds the request's variables the plugin declares, by name and by prefix", () => {
    const names = { readsEnv: ["AWS_*", "NODE_EXTRA_CA_CERTS"] };
    const env = pluginEnvironment({ ...names, env: {}, environment: givenEnvironment(names, REQUEST_ENV) }, DAEMON_ENV, HANDSHAKE);
    expect(env["AWS_REGION"]).toBe("eu-central-1");
    expect(env["AWS_ACCESS_KEY_ID"]).toBe("AKIA-STEP");
    expect(env["NODE_EXTRA_CA_CERTS"]).toBe("/etc/step-ca.pem");
    expect(env).not.toHaveProperty("AWSOME");
    expect(env).not.toHaveProperty("ADMIN_DATABASE_URL");
  });

  it("adds the request's variables its configuration names in *_env fields, and only those", () => {
    const names = { configEnv: ["DB_PASSWORD", "NOT_SET_ANYWHERE"] };
    const env = pluginEnvironment({ ...names, env: {}, environment: givenEnvironment(names, REQUEST_ENV) }, DAEMON_ENV, HANDSHAKE);
    expect(env["DB_PASSWORD"]).toBe("step-password");
    expect(env).not.toHaveProperty("NOT_SET_ANYWHERE");
    expect(env).not.toHaveProperty("FOO_SECRET");
  });

  it("filters what it is given again: a variable the plugin may not read never gets through", () => {
    const env = pluginEnvironment({ readsEnv: ["AWS_*"], env: {}, environment: { AWS_REGION: "eu-central-1", FOO_SECRET: "x", PATH: "/evil" } }, DAEMON_ENV, HANDSHAKE);
    expect(env["AWS_REGION"]).toBe("eu-central-1");
    expect(env).not.toHaveProperty("FOO_SECRET");
    expect(env["PATH"]).toBe("/usr/bin:/bin");
  });

  it("never passes NODE_OPTIONS from either environment, whoever asks for it", () => {
    const names = { readsEnv: ["NODE_*", "NODE_OPTIONS"], configEnv: ["NODE_OPTIONS"] };
    const given = givenEnvironment(names, { ...REQUEST_ENV, NODE_OPTIONS: "--import=/tmp/evil.mjs" });
    expect(given).not.toHaveProperty("NODE_OPTIONS");
    const env = pluginEnvironment({ ...names, env: {}, environment: { ...given, NODE_OPTIONS: "--import=/tmp/evil.mjs" } }, DAEMON_ENV, HANDSHAKE);
    expect(env).not.toHaveProperty("NODE_OPTIONS");
    expect(env["NODE_EXTRA_CA_CERTS"]).toBe("/etc/step-ca.pem");
  });

  it("takes the base from the daemon, never from the request, even when a plugin declares it", () => {
    const given = givenEnvironment({ readsEnv: ["HOME", "LC_*", "OTEL_*"] }, { HOME: "/home/step", LC_ALL: "fr_FR", OTEL_SERVICE_NAME: "x" });
    expect(given).toEqual({});
  });

  it("sets wfctl.yaml's env as given (NODE_OPTIONS too: the lockfile pins it), and the handshake over everything", () => {
    const env = pluginEnvironment({ env: { NODE_OPTIONS: "--no-warnings", PATH: "/opt/bin", WFCTL_PLUGIN_SOCKET_DIR: "/elsewhere" } }, DAEMON_ENV, HANDSHAKE);
    expect(env["NODE_OPTIONS"]).toBe("--no-warnings");
    expect(env["PATH"]).toBe("/opt/bin");
    expect(env["WFCTL_PLUGIN_SOCKET_DIR"]).toBe("/tmp/wfctl-p-1");
  });

  it("has a base that is names and prefixes only, with no wildcard for everything", () => {
    expect(envPatternProblems(BASE_ENV)).toEqual([]);
    expect(BASE_ENV.some((p) => p.startsWith("NODE"))).toBe(false);
  });
});

describe("the digest of the environment a plugin was given", () => {
  it("is the same for the same names and values, and differs when a value or a name does", () => {
    const a = environmentDigest({ PGPASSWORD: "one", PGUSER: "ci" });
    expect(environmentDigest({ PGUSER: "ci", PGPASSWORD: "one" })).toBe(a);
    expect(environmentDigest({ PGPASSWORD: "two", PGUSER: "ci" })).not.toBe(a);
    expect(environmentDigest({ PGPASSWORD: "one", PGUSERS: "ci" })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(environmentDigest({})).toBe("");
    expect(environmentDigest(undefined)).toBe("");
  });

  it("makes the instance key: one per distinct environment, the configuration's own key without one, never a value in it", () => {
    const key = "c0ffee".repeat(10);
    expect(instanceKey(key, undefined)).toBe(key);
    expect(instanceKey(key, {})).toBe(key);
    const first = instanceKey(key, { DB_PASSWORD: "first-secret" });
    const second = instanceKey(key, { DB_PASSWORD: "second-secret" });
    expect(first).not.toBe(key);
    expect(second).not.toBe(first);
    expect(instanceKey(key, { DB_PASSWORD: "first-secret" })).toBe(first);
    for (const k of [first, second]) expect(k).toMatch(/^[0-9a-f]{64}$/);
  });

  it("is part of a plugin as started for a request: the values of what it reads and what its configuration names", () => {
    const postgres = builtinPlugins().find((s) => s.kind === "provider" && s.name === "postgres");
    if (!postgres) throw new Error("no postgres provider in the catalog");
    const spec = forRequest(postgres, ["ADMIN_DATABASE_URL"], { ...REQUEST_ENV, PGPASSWORD: "pw", ADMIN_DATABASE_URL: "postgres://x" });
    expect(spec.environment).toEqual({ PGPASSWORD: "pw", ADMIN_DATABASE_URL: "postgres://x" });
    expect(spec.configEnv).toEqual(["ADMIN_DATABASE_URL"]);
    // specIdentity (what starts the process) never depends on the values.
    expect(specIdentity(spec)).toBe(specIdentity(forRequest(postgres, ["ADMIN_DATABASE_URL"], { PGPASSWORD: "other", ADMIN_DATABASE_URL: "postgres://y" })));
    expect(forRequest(postgres, [], { FOO_SECRET: "x" })).toBe(postgres);
  });
});

describe("variables a configuration names", () => {
  it("are the values of *_env keys at any depth that are variable names, sorted and once each", () => {
    const names = envNamesInConfig([
      { url_env: "PG_URL", password_env: "DB_PASSWORD", user: "app", nested: { token_env: "API_TOKEN", list: [{ key_env: "K1" }] } },
      { password_env: "DB_PASSWORD", environment: "prod", region_env: "not a name", count_env: 3, some_env: null },
      "a string",
    ]);
    expect(names).toEqual(["API_TOKEN", "DB_PASSWORD", "K1", "PG_URL"]);
  });

  it("are none for a configuration without *_env fields", () => {
    expect(envNamesInConfig([{ root: "out", env: "X", environment: "Y" }])).toEqual([]);
  });
});

describe("reads_env patterns", () => {
  it("are names or prefixes ending in one '*'", () => {
    expect(envPatternProblems(["AWS_*", "PGHOST", "LC_*", "google_cloud_project"])).toEqual([]);
    const problems = envPatternProblems(["*", "AWS_**", "A-B", "", "*_KEY", "1ABC"]);
    expect(problems).toHaveLength(6);
    expect(problems[0]).toContain('"*" is neither a variable name (PGHOST) nor a prefix ending in one \'*\' (AWS_*)');
  });

  it("match names exactly, prefixes by their start, and nothing else", () => {
    expect(matchesEnvPattern("AWS_REGION", ["AWS_*"])).toBe(true);
    expect(matchesEnvPattern("AWSOME", ["AWS_*"])).toBe(false);
    expect(matchesEnvPattern("PGHOST", ["PGHOST"])).toBe(true);
    expect(matchesEnvPattern("PGHOSTADDR", ["PGHOST"])).toBe(false);
    expect(matchesEnvPattern("aws_region", ["AWS_*"])).toBe(false);
  });

  it("are compared sorted and without duplicates", () => {
    expect(normalizeEnvPatterns(["PG*", "AWS_*", "PG*"])).toEqual(["AWS_*", "PG*"]);
  });

  it("of every built-in plugin are valid, normalized, and declare no NODE_OPTIONS", () => {
    for (const spec of builtinPlugins()) {
      const readsEnv = spec.readsEnv ?? [];
      expect(envPatternProblems(readsEnv), `${spec.kind} ${spec.name}`).toEqual([]);
      expect(readsEnv).toEqual(normalizeEnvPatterns(readsEnv));
      expect(readsEnv.some((p) => matchesEnvPattern("NODE_OPTIONS", [p]))).toBe(false);
    }
    expect(builtinPlugins().find((s) => s.name === "local")?.readsEnv).toEqual([]);
  });
});
