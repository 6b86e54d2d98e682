// A rename (state mv) that the state store stops halfway, through the real
// CLI, daemon and a real PostgreSQL state: a trigger refuses every DELETE of
// a state row, so the record is saved under its new name and the old one
// cannot be removed: what a kill between the two writes leaves too. State
// then holds the record twice, never not at all; the error says how to
// finish; a plan removes only the stale record (never the file both
// describe); and once the store works again, the same `state mv` finishes
// the rename, or an apply drops the stale record and keeps the file.
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { createDatabase } from "../servers/postgres.js";

const SCHEMA = `mv_${randomBytes(3).toString("hex")}`;

function configText(a: string, b: string): string {
  return `modules:
  - name: state
    type: iac.state
    config: { backend: postgres, url_env: WFCTL_TEST_STATE_URL, schema: ${SCHEMA} }
  - name: files
    type: iac.provider
    config: { provider: local, root: out }
  - name: ${a}
    type: local.file
    provider: files
    config: { path: a.txt, content: "a\\n" }
  - name: ${b}
    type: local.file
    provider: files
    depends_on: [${a}]
    config: { path: b.txt, content: "b\\n" }
`;
}

interface StateJson {
  resources: { name: string; provider_id: string; depends_on: string[] }[];
}

interface PlanJson {
  changes: { name: string; action: string; recorded_note?: string }[];
}

describe("a state mv the state store interrupts", () => {
  const sandbox = cliSandbox("wft-mvfault-");
  let url = "";
  let db: pg.Client | undefined;
  let config = "";
  const env = () => ({ WFCTL_TEST_STATE_URL: url });
  const run = (args: string[]) => sandbox.cli.run([...args, "-c", config], { env: env() });
  const records = async () => {
    const { value } = await sandbox.cli.json<StateJson>(["infra", "state", "list", "-c", config], { env: env() });
    return Object.fromEntries(value.resources.map((r) => [r.name, r]));
  };
  const refuseDeletes = async (on: boolean) => {
    if (!db) throw new Error("no database connection");
    if (on) {
      await db.query(`CREATE OR REPLACE FUNCTION ${SCHEMA}.refuse_delete() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected: state rows cannot be deleted'; END $$ LANGUAGE plpgsql`);
      await db.query(`CREATE TRIGGER refuse_delete BEFORE DELETE ON ${SCHEMA}.wfctl_state FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.refuse_delete()`);
    } else {
      await db.query(`DROP TRIGGER IF EXISTS refuse_delete ON ${SCHEMA}.wfctl_state`);
    }
  };

  beforeAll(async () => {
    url = await createDatabase(inject("postgresUrl"), "wfctl_mv_faults");
    db = new pg.Client({ connectionString: url });
    await db.connect();
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, configText("a", "b"));
  });

  afterAll(async () => {
    await db?.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {});
    await db?.end();
  });

  it("leaves the record under both names, never none, and says how to finish; the same state mv then finishes it", async () => {
    expectExit(await run(["infra", "apply", "--auto-approve"]), 0);
    const before = await records();
    writeFileSync(config, configText("a2", "b"));
    await refuseDeletes(true);

    const mv = await run(["infra", "state", "mv", "a", "a2"]);
    expectExit(mv, 1);
    expect(mv.stderr).toContain("a was saved as a2, but the rename did not finish");
    expect(mv.stderr).toContain("injected: state rows cannot be deleted");
    expect(mv.stderr).toContain("Run `wfctl infra state mv a a2` again to finish");
    const half = await records();
    expect(Object.keys(half).sort()).toEqual(["a", "a2", "b"]);
    expect(half["a2"]?.provider_id).toBe(before["a"]?.provider_id);
    expect(half["b"]?.depends_on).toEqual(["a2"]);

    // Both records describe one file: the plan removes the stale record, never the file.
    const { result, report } = await sandbox.cli.events<PlanJson>(["infra", "plan", "-c", config], { env: env() });
    expectExit(result, 0);
    const stale = report.changes.find((c) => c.name === "a");
    expect(stale?.action).toBe("delete");
    expect(stale?.recorded_note).toBe("describes the same resource as a2 (left by an interrupted rename): only this record is removed");
    expect(report.changes.find((c) => c.name === "a2")?.action).toBe("noop");

    await refuseDeletes(false);
    expectExit(await run(["infra", "state", "mv", "a", "a2"]), 0);
    expect(Object.keys(await records()).sort()).toEqual(["a2", "b"]);
    expect(existsSync(join(sandbox.dir, "out", "a.txt"))).toBe(true);
    expectExit(await run(["infra", "plan", "--detailed-exitcode"]), 0);
  });

  it("an apply after the store recovers drops the stale record and keeps the file", async () => {
    writeFileSync(config, configText("a2", "b2"));
    await refuseDeletes(true);
    expectExit(await run(["infra", "state", "mv", "b", "b2"]), 1);
    expect(Object.keys(await records()).sort()).toEqual(["a2", "b", "b2"]);
    await refuseDeletes(false);

    const apply = await run(["infra", "apply", "--auto-approve"]);
    expectExit(apply, 0);
    expect(apply.stdout).toContain("describes the same resource as b2 (left by an interrupted rename): only this record is removed");
    expect(Object.keys(await records()).sort()).toEqual(["a2", "b2"]);
    expect(existsSync(join(sandbox.dir, "out", "b.txt"))).toBe(true);
    expectExit(await run(["infra", "plan", "--detailed-exitcode"]), 0);
  });
});
