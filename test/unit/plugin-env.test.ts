// The environment a plugin starts with: the base, what it declares it reads,
// what its configuration names, its wfctl.yaml env and the handshake, and
// nothing else of the daemon's environment.
import { describe, expect, it } from "vitest";
import { builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { BASE_ENV, envNamesInConfig, pluginEnvironment } from "../../daemon/supervisor/plugin-env.js";
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
const HANDSHAKE = { WFCTL_PLUGIN_MAGIC_COOKIE: "c", WFCTL_PLUGIN_SOCKET_DIR: "/tmp/wfctl-p-1" };

describe("a plugin's environment", () => {
  it("holds the base and the handshake, and none of the daemon's other variables", () => {
    const env = pluginEnvironment({ env: {} }, DAEMON_ENV, HANDSHAKE);
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

  it("adds the variables the plugin declares, by name and by prefix", () => {
    const env = pluginEnvironment({ readsEnv: ["AWS_*", "NODE_EXTRA_CA_CERTS"], env: {} }, DAEMON_ENV, HANDSHAKE);
    expect(env["AWS_REGION"]).toBe("eu-west-1");
    expect(env["AWS_ACCESS_KEY_ID"]).toBe("AKIA0000");
    expect(env["NODE_EXTRA_CA_CERTS"]).toBe("/etc/ca.pem");
    expect(env).not.toHaveProperty("AWSOME");
    expect(env).not.toHaveProperty("ADMIN_DATABASE_URL");
  });

  it("adds the variables its configuration names in *_env fields, and only those", () => {
    const env = pluginEnvironment({ configEnv: ["DB_PASSWORD", "NOT_SET_ANYWHERE"], env: {} }, DAEMON_ENV, HANDSHAKE);
    expect(env["DB_PASSWORD"]).toBe("hunter2");
    expect(env).not.toHaveProperty("NOT_SET_ANYWHERE");
    expect(env).not.toHaveProperty("FOO_SECRET");
  });

  it("never passes the daemon's NODE_OPTIONS, whoever asks for it", () => {
    const env = pluginEnvironment({ readsEnv: ["NODE_*", "NODE_OPTIONS"], configEnv: ["NODE_OPTIONS"], env: {} }, DAEMON_ENV, HANDSHAKE);
    expect(env).not.toHaveProperty("NODE_OPTIONS");
    expect(env["NODE_EXTRA_CA_CERTS"]).toBe("/etc/ca.pem");
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
