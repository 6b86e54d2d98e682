// A warm daemon serves each CI step with that step's environment (issue 19,
// acceptance check 1). wfctld is started with an empty environment (only the
// OTEL_* variables that make it export its traces here); the real CLI then
// plans a configuration whose postgres state needs WFCTL_STATE_URL and whose
// postgres provider needs a password variable, both only in the CLIENT's
// environment. A step with another password gets a plugin instance of its
// own (another instance key, another process, each holding only its own
// value), the same password again reuses the first; and no value appears in
// the daemon's log, the plugins' logs, the exported traces or any output.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Cli, type CliResult, expectExit } from "../helpers/cli.js";
import { OtlpCollector } from "../helpers/otlp-collector.js";
import { waitFor } from "../helpers/processes.js";
import { type StartedDaemon, startWfctld } from "../helpers/wfctld.js";

const id = randomBytes(4).toString("hex");
const STEP_USER = `step_${id}`;
const ROLE = `stepapp_${id}`;
/** The secrets: the state URL's password, and the provider's password in two steps. */
const STATE_PASSWORD = `State-${randomBytes(9).toString("base64url")}-SECRET`;
const FIRST = `First-${randomBytes(9).toString("base64url")}-SECRET`;
const SECOND = `Second-${randomBytes(9).toString("base64url")}-SECRET`;

interface ListedPlugin {
  name: string;
  kind: string;
  pid: number;
  state: string;
  instance?: string;
}

/** A process's environment, from /proc. */
function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

describe("each request carries its step's environment", () => {
  const collector = new OtlpCollector();
  const admin = new pg.Pool({ connectionString: inject("postgresUrl"), max: 1 });
  const seen: CliResult[] = [];
  let daemon: StartedDaemon;
  let cli: Cli;
  let config = "";
  let stateUrl = "";
  let providerUrl = "";

  /** The real CLI against that daemon, with a step's environment (and nothing of it otherwise: no PG*, no WFCTL_*). */
  const step = async (args: string[], env: Record<string, string | undefined>) => {
    const result = await cli.run(args, { env: { WFCTL_STATE_URL: undefined, E2E_STEP_PG_PASSWORD: undefined, PGPASSWORD: undefined, ...collector.env(), ...env } });
    seen.push(result);
    return result;
  };
  const plugins = async (env: Record<string, string | undefined> = {}) => {
    const result = await step(["plugins", "list", "--json"], env);
    expectExit(result, 0);
    return (JSON.parse(result.stdout) as { plugins: ListedPlugin[] }).plugins.filter((p) => p.kind === "provider" && p.name === "postgres" && p.pid > 0);
  };

  beforeAll(async () => {
    await collector.start();
    // The provider connects as a role of its own, with a password (the test server trusts local connections: what
    // proves the password reached the plugin is that the provider refuses to start without its variable).
    await admin.query(`CREATE ROLE ${STEP_USER} LOGIN CREATEROLE PASSWORD '${FIRST}'`);
    const server = new URL(inject("postgresUrl"));
    stateUrl = `postgres://postgres:${STATE_PASSWORD}@${server.host}/postgres`;
    providerUrl = `postgres://${STEP_USER}@${server.host}/postgres`;
    // Nothing of this process's environment: not PATH, not HOME; only where to send traces.
    daemon = await startWfctld(["--log-level", "debug"], "wft-stepenv-", collector.env());
    cli = new Cli(daemon.dir);
    config = join(daemon.dir, "infra.yaml");
    writeFileSync(
      config,
      `modules:
  - name: state
    type: iac.state
    config: { backend: postgres, url_env: WFCTL_STATE_URL, schema: wfctl_step_${id} }

  - name: pg
    type: iac.provider
    config: { provider: postgres, url: "${providerUrl}", password_env: E2E_STEP_PG_PASSWORD }

  - name: app-role
    type: postgres.role
    provider: pg
    config: { name: ${ROLE}, login: false }
`,
    );
  });

  afterAll(async () => {
    await daemon?.stop();
    await collector.stop();
    await admin.query(`DROP SCHEMA IF EXISTS wfctl_step_${id} CASCADE`).catch(() => {});
    await admin.query(`DROP ROLE IF EXISTS ${STEP_USER}`).catch(() => {});
    await admin.end();
  });

  it("the daemon's own environment is empty: a step without WFCTL_STATE_URL is told its command lacks it", async () => {
    expect(Object.keys(environOf(daemon.pid)).filter((name) => !name.startsWith("OTEL_"))).toEqual([]);
    const result = await step(["infra", "plan", "-c", config], { E2E_STEP_PG_PASSWORD: FIRST });
    expectExit(result, 1);
    expect(result.stderr).toContain('field "config.url_env" names the environment variable WFCTL_STATE_URL, which is not set in the environment of the wfctl command');
  });

  it("plans with the state URL and the provider's password taken from the client's environment", async () => {
    const result = await step(["infra", "plan", "-c", config, "--detailed-exitcode"], { WFCTL_STATE_URL: stateUrl, E2E_STEP_PG_PASSWORD: FIRST });
    expectExit(result, 2);
    expect(result.stdout).toContain("app-role");
    const [first, ...others] = await plugins();
    expect(others).toEqual([]);
    expect(first?.state).toBe("running");
    // The plugin got the step's value, and no other of its variables.
    const env = environOf(first?.pid as number);
    expect(env["E2E_STEP_PG_PASSWORD"]).toBe(FIRST);
    expect(env).not.toHaveProperty("WFCTL_STATE_URL");
  });

  it("a step whose password differs gets an instance of its own; a step with the first password again reuses the first", async () => {
    await admin.query(`ALTER ROLE ${STEP_USER} PASSWORD '${SECOND}'`);
    const [first] = await plugins();
    expectExit(await step(["infra", "plan", "-c", config, "--detailed-exitcode"], { WFCTL_STATE_URL: stateUrl, E2E_STEP_PG_PASSWORD: SECOND }), 2);
    const running = await plugins();
    expect(running).toHaveLength(2);
    const second = running.find((p) => p.instance !== first?.instance);
    expect(second?.pid).not.toBe(first?.pid);
    expect(second?.instance).toMatch(/^[0-9a-f]{12}$/);
    expect(environOf(second?.pid as number)["E2E_STEP_PG_PASSWORD"]).toBe(SECOND);
    expect(environOf(first?.pid as number)["E2E_STEP_PG_PASSWORD"]).toBe(FIRST);

    expectExit(await step(["infra", "plan", "-c", config, "--detailed-exitcode"], { WFCTL_STATE_URL: stateUrl, E2E_STEP_PG_PASSWORD: FIRST }), 2);
    expect((await plugins()).map((p) => p.instance).sort()).toEqual([first?.instance, second?.instance].sort());
  });

  it("without its password variable, the provider is refused naming the variable, whatever an earlier step gave", async () => {
    const result = await step(["infra", "plan", "-c", config], { WFCTL_STATE_URL: stateUrl });
    expectExit(result, 1);
    expect(result.stderr).toContain("E2E_STEP_PG_PASSWORD");
  });

  it("no value is in the daemon's log, the plugins' logs, the exported traces, status or any output", async () => {
    for (const args of [["plugins", "logs", "postgres", "--tail", "1000"], ["plugins", "inspect", "postgres"], ["daemon", "status", "--json"], ["infra", "state", "list", "-c", config, "--json"]]) {
      await step(args, { WFCTL_STATE_URL: stateUrl, E2E_STEP_PG_PASSWORD: SECOND });
    }
    // Traces are exported in batches: wait for the daemon's and a plugin's spans of the last plan.
    await waitFor(() => collector.spans.some((s) => s.service === "wfctld") && collector.spans.some((s) => s.service === "wfctl-plugin-postgres"), 15_000, "the daemon's and the plugin's spans");
    const haystack = [daemon.output(), collector.bodies.join("\n"), ...seen.map((r) => r.stdout + r.stderr)].join("\n");
    expect(haystack).toContain(ROLE); // the haystack is real
    expect(haystack).toContain("wfctld EnvironmentNames");
    for (const secret of [STATE_PASSWORD, FIRST, SECOND]) expect(haystack).not.toContain(secret);
  });
});
