import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { FilesystemStateStore } from "../../daemon/state/filesystem.js";
import { MemoryStateStore } from "../../daemon/state/memory.js";
import { recordJson, stateFromProto, stateToProto, withFields } from "../../proto/state-store.js";
import { describePostgres, forgetDaemonPgEnvironment, postgresSettings } from "../../daemon/state/postgres.js";
import { sampleState } from "../../plugins/conformance/state-backend.js";

const base = mkdtempSync(join(tmpdir(), "wft-fs-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));


const live = () => ({ signal: new AbortController().signal });

describe("filesystem state store", () => {
  it("keeps state owner-only and leaves no temporary files behind", async () => {
    const root = join(base, "perm", "default");
    const store = await FilesystemStateStore.open(root);
    await store.saveState(sampleState("a"), live());
    expect(statSync(join(root, "resources")).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, "resources", "a.json")).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(root, "resources"))).toEqual(["a.json"]);
  });

  it("writes a readable, versioned JSON record per resource", async () => {
    const root = join(base, "format", "default");
    const store = await FilesystemStateStore.open(root);
    await store.saveState(sampleState("a"), live());
    const record = JSON.parse(readFileSync(join(root, "resources", "a.json"), "utf8")) as Record<string, unknown>;
    expect(record).toMatchObject({ format: "wfctl.state.v1", resource_id: "a", resource_type: "local.file", config: { path: "a.txt" } });
  });

  it("records who holds a lock, for what and since when, in the lock file", async () => {
    const root = join(base, "lockfile", "default");
    const store = await FilesystemStateStore.open(root);
    const lock = await store.lock("stack", { holder: "ci@runner (pid 7)", operation: "apply", version: "0.1.0" }, live());
    const onDisk = JSON.parse(readFileSync(join(root, "locks", "stack.lock"), "utf8")) as Record<string, unknown>;
    expect(onDisk).toMatchObject({ lockId: lock.lockId, holder: "ci@runner (pid 7)", operation: "apply", createdAt: lock.createdAt });
  });

  it("treats a half-written lock file as held", async () => {
    const root = join(base, "halflock", "default");
    const store = await FilesystemStateStore.open(root);
    writeFileSync(join(root, "locks", "stack.lock"), "{ not json");
    await expect(store.lock("stack", { holder: "x", operation: "apply", version: "v" }, live())).rejects.toMatchObject({ code: ErrorCode.LOCK_HELD });
  });

  it("reports a corrupt record as STATE_CORRUPT naming the file, instead of skipping it", async () => {
    const root = join(base, "corrupt", "default");
    const store = await FilesystemStateStore.open(root);
    writeFileSync(join(root, "resources", "bad.json"), "{ oops");
    const err = await store.listStates({}, live()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WfctlError);
    expect((err as WfctlError).code).toBe(ErrorCode.STATE_CORRUPT);
    expect((err as WfctlError).message).toContain("bad.json");
  });

  it("lists many records (read side by side) in the order of their names, and one that cannot be read fails the listing, named", async () => {
    const root = join(base, "many", "default");
    const store = await FilesystemStateStore.open(root);
    const ids = Array.from({ length: 150 }, (_, i) => `r${String(i).padStart(3, "0")}`);
    for (const id of [...ids].reverse()) await store.saveState(sampleState(id), live());
    expect((await store.listStates({}, live())).map((r) => r.resourceId)).toEqual(ids);
    // A record that is not a file (read fails with EISDIR) among them.
    mkdirSync(join(root, "resources", "r077x.json"));
    const err = await store.listStates({}, live()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WfctlError);
    expect((err as WfctlError).message).toContain("r077x.json");
  });

  it("refuses resource ids that would escape the directory", async () => {
    const store = await FilesystemStateStore.open(join(base, "ids", "default"));
    await expect(store.saveState(sampleState("../evil"), live())).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });

  it("fails to open where it cannot write, instead of running without persistence", async () => {
    const file = join(base, "not-a-dir");
    writeFileSync(file, "x");
    await expect(FilesystemStateStore.open(join(file, "default"))).rejects.toMatchObject({ code: ErrorCode.STATE_BACKEND_UNAVAILABLE });
  });
});

describe("postgres settings", () => {
  const where = "/x/infra.yaml: module \"state\"";
  it("falls back to the PG* variables of the wfctl command's environment, and describes itself without reading any", () => {
    const env = { PGHOST: "db.step", PGPORT: "6543", PGDATABASE: "infra", PGUSER: "step", PGPASSWORD: "step-pw", PGSSLMODE: "disable" };
    const settings = postgresSettings({ schema: "team_a" }, where, env);
    expect(settings.client).toMatchObject({ host: "db.step", port: 6543, database: "infra", user: "step", password: "step-pw", ssl: false });
    expect(settings.describe).toBe("postgres db.step:6543/infra, schema team_a");
    // The configuration's own fields win over the variables.
    expect(postgresSettings({ host: "db.own", user: "own" }, where, env).client).toMatchObject({ host: "db.own", user: "own", port: 6543 });
    expect(postgresSettings({}, where, { PGSSLMODE: "constructor" }).client.ssl).toBeUndefined();
    expect(describePostgres({ url_env: "STATE_URL" })).toBe("postgres (the URL in STATE_URL), schema wfctl");
    expect(describePostgres({ url: "postgres://ci:s3cret@db:5432/x", schema: "s" })).toBe("postgres postgres://ci:****@db:5432/x, schema s");
    expect(describePostgres({ host: "db" })).toBe("postgres db:$PGPORT/$PGDATABASE, schema wfctl");
  });

  it("removes the PG* variables from the daemon's own environment, and nothing else", () => {
    const env: NodeJS.ProcessEnv = { PGPASSWORD: "daemon-pw", PGHOST: "h", PATH: "/bin", APGX: "kept" };
    forgetDaemonPgEnvironment(env);
    expect(env).toEqual({ PATH: "/bin", APGX: "kept" });
  });

  it("takes the connection from url or url_env and the password only from password_env, never showing it", () => {
    const settings = postgresSettings({ url_env: "STATE_URL", schema: "team_a" }, where, { STATE_URL: "postgres://ci:s3cret@db.internal:5433/infra" });
    expect(settings.client.connectionString).toBe("postgres://ci:s3cret@db.internal:5433/infra");
    expect(settings.schema).toBe("team_a");
    expect(settings.describe).toBe("postgres postgres://ci:****@db.internal:5433/infra, schema team_a");
    const fields = postgresSettings({ host: "db", port: 5432, database: "infra", user: "ci", password_env: "PGPASS_CI" }, where, { PGPASS_CI: "hunter2" });
    expect(fields.client).toMatchObject({ host: "db", port: 5432, database: "infra", user: "ci", password: "hunter2" });
    expect(fields.describe).not.toContain("hunter2");
    // What a refused connection names: who, and where the password and database come from; never the password.
    expect(settings.refusal).toEqual({ where, user: "ci", password: "the URL of config.url_env (STATE_URL)", database: "the URL of config.url_env (STATE_URL)" });
    expect(fields.refusal).toEqual({ where, user: "ci", password: "config.password_env (PGPASS_CI)", database: "config.database" });
  });

  it("refuses a password in the file, an unset variable, an unknown field and a bad schema name, naming the field", () => {
    const problem = (config: Record<string, unknown>, env: Record<string, string> = {}) => {
      try {
        postgresSettings(config as never, where, env);
      } catch (err) {
        return (err as WfctlError).message;
      }
      return "accepted";
    };
    expect(problem({ password: "x" })).toContain('field "config.password": passwords are never written in the configuration');
    expect(problem({ password_env: "NOPE" })).toContain('field "config.password_env" names the environment variable NOPE, which is not set in the environment of the wfctl command');
    expect(problem({ hostname: "db" })).toContain('unknown field "config.hostname"');
    expect(problem({ schema: "Drop Table" })).toContain('field "config.schema" must be a lower-case SQL identifier');
    expect(problem({ port: 0 })).toContain('field "config.port" must be a port number');
  });
});

describe("records in messages: outputs and config stay encoded until read", () => {
  const message = (state = sampleState("r", { error: 'says "outputs":"\u0000wfctl-encoded-outputs\u0000"' })) => stateToProto(state);

  it("passes bytes nobody read straight through, in messages and in record JSON", () => {
    const incoming = message();
    const record = stateFromProto(incoming);
    const moved = withFields(record, { status: "error", updatedAt: "2026-02-02T00:00:00.000Z" });
    const outgoing = stateToProto(moved);
    // The very bytes that arrived: nothing was parsed or re-encoded.
    expect(outgoing.outputsJson).toBe(incoming.outputsJson);
    expect(outgoing.configJson).toBe(incoming.configJson);
    expect(outgoing.status).toBe("error");
    expect(record.status).toBe("active");
    // Spliced JSON is exactly what JSON.stringify gives, even next to a value that mimics the splice marker.
    const spliced = recordJson(moved);
    expect(spliced).toBe(JSON.stringify(moved));
    expect(JSON.parse(spliced)).toEqual({ ...sampleState("r", { error: moved.error }), status: "error", updatedAt: "2026-02-02T00:00:00.000Z" });
  });

  it("re-encodes a field once it has been read, since the reader may have changed it", () => {
    const incoming = message();
    const record = stateFromProto(incoming);
    record.outputs.size = 99;
    const outgoing = stateToProto(record);
    expect(outgoing.outputsJson).not.toBe(incoming.outputsJson);
    expect(outgoing.configJson).toBe(incoming.configJson);
    expect(stateFromProto(outgoing).outputs.size).toBe(99);
    expect(JSON.parse(recordJson(record))).toMatchObject({ outputs: { size: 99 }, config: { path: "r.txt" } });
  });

  it("lets a copy's field be replaced without touching the original", () => {
    const record = stateFromProto(message());
    const copy = withFields(record, { config: { path: "elsewhere" } });
    copy.outputs = { replaced: true };
    expect(record.config).toEqual({ path: "r.txt", content: "abc" });
    expect(record.outputs.size).toBe(3);
    expect(stateFromProto(stateToProto(copy))).toMatchObject({ config: { path: "elsewhere" }, outputs: { replaced: true } });
  });

  it("fails on bad JSON when the field is read, naming the record and field", () => {
    const broken = { ...message(), outputsJson: new TextEncoder().encode("{not json") };
    const record = stateFromProto(broken);
    expect(record.resourceId).toBe("r");
    expect(() => record.outputs).toThrow(/state r: outputs_json: not valid UTF-8 JSON/);
    expect(() => JSON.stringify(record)).toThrow(WfctlError);
  });

  it("keeps the memory store's copies apart from its callers", async () => {
    const store = new MemoryStateStore();
    const saved = sampleState("m");
    await store.saveState(saved, live());
    saved.outputs.size = 1;
    const first = await store.getState("m", live());
    expect(first?.outputs.size).toBe(3);
    if (first) first.outputs.size = 2;
    expect((await store.getState("m", live()))?.outputs.size).toBe(3);
    expect(await store.listStates({ status: "active" }, live())).toEqual([sampleState("m")]);
  });
});
