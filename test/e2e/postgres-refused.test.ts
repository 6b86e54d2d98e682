// A PostgreSQL server that refuses the connection, through the real CLI: a
// wrong password (a cluster of its own that asks for one, scram-sha-256), a
// user it does not know, a database that does not exist. None is
// STATE_BACKEND_UNAVAILABLE ("retrying may help", exit 4): the state backend
// answers PERMISSION_DENIED (FAILED_PRECONDITION for the database), exit 1,
// naming the module, the user, the server and the field to fix, never a
// password; the postgres provider plugin says the same of its connection.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { type PostgresServer, startPostgres } from "../servers/postgres.js";
import { postgresBinaries } from "../servers/postgres-binaries.js";

const PASSWORD = `Right-${randomBytes(9).toString("base64url")}`;
const WRONG = `Wrong-${randomBytes(9).toString("base64url")}`;

const state = (config: string) => `modules:
  - name: state
    type: iac.state
    config: { backend: postgres, ${config} }
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
  - name: notes
    type: local.file
    provider: local
    config: { path: notes.txt, content: "notes" }
`;

interface JsonError {
  error: { code: string; message: string };
}

describe("a PostgreSQL server that refuses the connection", () => {
  const sandbox = cliSandbox("wft-pgref-");
  let server: PostgresServer;
  /** The cluster's URL with `password` (and `database`). */
  const urlWith = (password: string, database = "postgres") => {
    const url = new URL(server.url);
    url.password = password;
    url.pathname = `/${database}`;
    return url.toString();
  };
  const port = () => new URL(server.url).port;

  beforeAll(async () => {
    server = await startPostgres(postgresBinaries(inject("postgresBinaryCache")), PASSWORD);
  }, 120_000);
  afterAll(async () => {
    await sandbox.cli.run(["daemon", "stop"]);
    await server?.stop();
  });

  /**
   * Plans `config` with `env`; the --json error (its last line), after checking
   * no password shows anywhere. Each case has a daemon started with its own
   * environment (a warm daemon reads *_env variables from its own).
   */
  async function planError(name: string, config: string, env: Record<string, string>): Promise<{ result: CliResult; error: JsonError["error"] }> {
    const file = join(sandbox.dir, `${name}.yaml`);
    writeFileSync(file, config);
    expectExit(await sandbox.cli.run(["daemon", "stop"]), 0);
    const result = await sandbox.cli.run(["infra", "plan", "-c", file, "--json"], { env });
    const text = await sandbox.cli.run(["infra", "plan", "-c", file], { env });
    for (const output of [result.stdout, result.stderr, text.stdout, text.stderr]) {
      expect(output).not.toContain(WRONG);
      expect(output).not.toContain(PASSWORD);
    }
    expectExit(text, result.code);
    const last = result.stdout.trim().split("\n").at(-1) ?? "";
    return { result, error: (JSON.parse(last) as JsonError).error };
  }

  it("the state backend: a wrong password in the URL of url_env is PERMISSION_DENIED, exit 1, naming user, server and field", async () => {
    const { result, error } = await planError("wrong-url", state("url_env: WFCTL_TEST_STATE_URL"), { WFCTL_TEST_STATE_URL: urlWith(WRONG) });
    expectExit(result, 1);
    expect(error.code).toBe("PERMISSION_DENIED");
    expect(error.message).toContain(`module "state": cannot use postgres postgres://postgres:****@127.0.0.1:${port()}/postgres, schema wfctl`);
    expect(error.message).toContain('password authentication failed for user "postgres" (SQLSTATE 28P01)');
    expect(error.message).toContain('the server refused the password of user "postgres" (the password: the URL of config.url_env (WFCTL_TEST_STATE_URL)); retrying will not help');
  });

  it("the state backend: a wrong password from password_env names that field and its variable", async () => {
    const config = state(`host: 127.0.0.1, port: ${port()}, database: postgres, user: postgres, password_env: WFCTL_TEST_PG_PASSWORD`);
    const { result, error } = await planError("wrong-password-env", config, { WFCTL_TEST_PG_PASSWORD: WRONG });
    expectExit(result, 1);
    expect(error.code).toBe("PERMISSION_DENIED");
    expect(error.message).toContain(`cannot use postgres 127.0.0.1:${port()}/postgres, schema wfctl`);
    expect(error.message).toContain('refused the password of user "postgres" (the password: config.password_env (WFCTL_TEST_PG_PASSWORD))');
  });

  it("the state backend: a database that does not exist is FAILED_PRECONDITION naming where its name comes from", async () => {
    const { result, error } = await planError("no-database", state("url_env: WFCTL_TEST_STATE_URL"), { WFCTL_TEST_STATE_URL: urlWith(PASSWORD, "no_such_db") });
    expectExit(result, 1);
    expect(error.code).toBe("FAILED_PRECONDITION");
    expect(error.message).toContain('database "no_such_db" does not exist (SQLSTATE 3D000): create the database, or correct the name in the URL of config.url_env (WFCTL_TEST_STATE_URL)');
  });

  it("the state backend: a user the server does not know (trust auth, the shared test server) is PERMISSION_DENIED", async () => {
    const url = new URL(inject("postgresUrl"));
    url.username = "nobody_at_all";
    const { result, error } = await planError("no-user", state("url_env: WFCTL_TEST_STATE_URL"), { WFCTL_TEST_STATE_URL: url.toString() });
    expectExit(result, 1);
    expect(error.code).toBe("PERMISSION_DENIED");
    expect(error.message).toContain('role "nobody_at_all" does not exist (SQLSTATE 28000): the server does not let user "nobody_at_all" in');
  });

  it("the state backend: the right password works (the refusals above were the server's)", async () => {
    const file = join(sandbox.dir, "right.yaml");
    writeFileSync(file, state("url_env: WFCTL_TEST_STATE_URL"));
    expectExit(await sandbox.cli.run(["daemon", "stop"]), 0);
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", file, "--auto-approve"], { env: { WFCTL_TEST_STATE_URL: urlWith(PASSWORD) } }), 0);
  });

  it("the postgres provider: a wrong password is PERMISSION_DENIED naming the server, the user and url_env", async () => {
    const config = `modules:
  - name: pg
    type: iac.provider
    config: { provider: postgres, url_env: WFCTL_TEST_PG_ADMIN_URL }
  - name: role
    type: postgres.role
    provider: pg
    config: { name: refused_role }
`;
    const { result, error } = await planError("provider", config, { WFCTL_TEST_PG_ADMIN_URL: urlWith(WRONG) });
    expectExit(result, 1);
    expect(error.code).toBe("PERMISSION_DENIED");
    expect(error.message).toContain(`postgres 127.0.0.1:${port()}/postgres refused the connection: password authentication failed for user "postgres" (SQLSTATE 28P01)`);
    expect(error.message).toContain('as user "postgres", password: the URL of config.url_env (WFCTL_TEST_PG_ADMIN_URL); retrying will not help');
  });
});
