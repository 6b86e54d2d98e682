// The gcs provider as wfctl runs it: the plugin as a real process over gRPC.
// Its configuration and resource checks need no server. Its calls are made
// here against the firebase Storage emulator as it is (test/servers/gcs.ts
// with `buckets: "none"`), which serves objects but not the bucket API:
// bucket insert, patch and delete answer 501, and a bucket GET reaches its
// object download and answers 404 "No such object". What is checked against
// it is how the provider answers those replies (never taking a bucket for a
// ghost), and against servers that cannot be used at all. Buckets created,
// read, updated and deleted for real, and the conformance kit, are in
// provider-gcs-buckets.test.ts, against the bucket API in front of the
// emulator.
import { randomBytes } from "node:crypto";
import { type Server, type Socket, createServer } from "node:net";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinPlugins } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { ErrorCode } from "../../proto/errors.js";
import { Action, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { BUCKET_REF, GCS_PROJECT as PROJECT, GcsProviderPlugins, bucketPrior as prior } from "../helpers/gcs-provider.js";
import { cloudPlugin } from "../helpers/paths.js";
import { type GcsServer, startGcsServer } from "../servers/gcs.js";

const BIN = cloudPlugin("provider-gcs");
const RUN = randomBytes(3).toString("hex");
const FAKE_KEY = JSON.stringify({ type: "service_account", project_id: PROJECT, client_email: "ci@example.iam.gserviceaccount.com", private_key: "-----BEGIN PRIVATE KEY-----hunter2" });

let emulator: GcsServer;
let plugins: GcsProviderPlugins;

/** A bucket name unique to this run. */
const unique = (what: string) => `wft-${what}-${RUN}`;

/** A plugin process of its own (a Configure that fails leaves nothing behind), configured with `config`. */
const configured = (config: JsonObject): Promise<PluginInstance> => plugins.configured(config);

/** The provider against the emulator, with a project. */
const atEmulator = (overrides: JsonObject = {}) => configured({ project_id: PROJECT, api_endpoint: emulator.endpoint, ...overrides });

function plan(instance: PluginInstance, desired: JsonObject, before?: JsonObject & { name: string }) {
  return instance.client(IaCProvider).plan({ resource: BUCKET_REF, desiredConfigJson: encodeJson(desired), ...(before ? { prior: prior(before) } : {}) });
}

/** The SDK straight at the emulator, to put objects in a bucket (which the emulator creates on first use) and list them. */
function emulatorStorage(): Storage {
  return new Storage({ apiEndpoint: emulator.endpoint, projectId: PROJECT });
}

async function objectsIn(bucket: string): Promise<string[]> {
  const [files] = await emulatorStorage().bucket(bucket).getFiles({ versions: true });
  return files.map((f) => f.name).sort();
}

beforeAll(async () => {
  emulator = await startGcsServer({ buckets: "none" });
  plugins = new GcsProviderPlugins({ TEST_GCS_KEY: FAKE_KEY, TEST_GCS_BAD_JSON: "{not json hunter2" });
});

afterAll(async () => {
  await plugins?.stop();
  await emulator?.stop();
});

describe("gcs provider plugin", () => {
  it("is the built-in provider gcs, serving gcs.bucket with its schema and drift detection", async () => {
    const builtin = builtinPlugins().find((s) => s.name === "gcs" && s.kind === "provider");
    expect(builtin).toMatchObject({ executable: process.execPath, args: [BIN], installable: "@wfctl/provider-gcs" });
    const instance = await atEmulator();
    expect(instance.serves(IaCDriftDetector)).toBe(true);
    const schema = await instance.client(IaCProvider).getSchema({});
    expect(schema.configFields.map((f) => f.name)).toEqual(expect.arrayContaining(["project_id", "api_endpoint", "credentials_json_env", "key_file"]));
    expect(schema.resourceTypes.map((t) => t.type)).toEqual(["gcs.bucket"]);
    const fields = Object.fromEntries((schema.resourceTypes[0]?.fields ?? []).map((f) => [f.name, f]));
    const defaultOf = (name: string) => decodeJsonValue(fields[name]?.defaultJson ?? new Uint8Array(), name);
    expect(fields["name"]).toMatchObject({ required: true, forceNew: true });
    expect(fields["location"]).toMatchObject({ forceNew: true });
    expect(defaultOf("location")).toBe("US");
    expect(fields["storage_class"]).toMatchObject({ forceNew: false });
    expect(defaultOf("storage_class")).toBe("STANDARD");
    expect(defaultOf("versioning")).toBe(false);
    expect(defaultOf("labels")).toEqual({});
    expect(defaultOf("uniform_bucket_level_access")).toBe(false);
    expect(defaultOf("force_destroy")).toBe(false);
    for (const computed of ["url", "self_link", "project_number"]) expect(fields[computed]).toMatchObject({ computed: true });
  });

  describe("provider configuration errors are CONFIG_INVALID naming the field", () => {
    it("an unknown key, a malformed project_id or endpoint", async () => {
      const unknown = await rejectionOf(configured({ projectid: PROJECT }));
      expect(unknown.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(unknown.message).toContain('field "projectid" is unknown');
      expect(unknown.details.map((d) => d.field)).toEqual(["projectid"]);

      const project = await rejectionOf(configured({ project_id: "My Project" }));
      expect(project.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(project.message).toContain('gcs provider: field "config.project_id" must be a project ID');
      // Provider details name the field of the provider's configuration: the daemon adds "config.".
      expect(project.details.map((d) => d.field)).toEqual(["project_id"]);

      const endpoint = await rejectionOf(configured({ api_endpoint: "localhost:9199" }));
      expect(endpoint.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(endpoint.message).toContain('field "config.api_endpoint" must be');

      const typed = await rejectionOf(configured({ api_endpoint: 9199 }));
      expect(typed.message).toContain('field "api_endpoint" must be a string');
    });

    it("a literal secret, in a setting or in the endpoint URL, is refused without being echoed", async () => {
      for (const key of ["credentials", "credentials_json", "private_key", "access_token"]) {
        const err = await rejectionOf(configured({ [key]: "hunter2" }));
        expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
        expect(err.message).toContain(`"config.${key}" is refused`);
        expect(err.message).toContain("credentials_json_env");
        expect(err.message).not.toContain("hunter2");
        expect(err.details.map((d) => d.field)).toEqual([key]);
      }
      const url = await rejectionOf(configured({ api_endpoint: "https://ci:hunter2@storage.example.com" }));
      expect(url.message).toContain('"config.api_endpoint" must not carry credentials');
      expect(url.message).not.toContain("hunter2");
    });

    it("credentials_json_env naming an unset variable or one that holds no key, or combined with key_file", async () => {
      const unset = await rejectionOf(configured({ credentials_json_env: "WFT_GCS_NOT_SET" }));
      expect(unset.message).toContain('"config.credentials_json_env" names the environment variable WFT_GCS_NOT_SET, which is not set');
      const bad = await rejectionOf(configured({ credentials_json_env: "TEST_GCS_BAD_JSON" }));
      expect(bad.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(bad.message).toContain("TEST_GCS_BAD_JSON, which does not hold JSON");
      expect(bad.message).not.toContain("hunter2");
      const both = await rejectionOf(configured({ credentials_json_env: "TEST_GCS_KEY", key_file: "key.json" }));
      expect(both.message).toContain('"config.key_file" cannot be combined with credentials_json_env');
    });
  });

  describe("a bucket's configuration is checked at plan time, naming the resource and the field", () => {
    let instance: PluginInstance;
    beforeAll(async () => {
      instance = await atEmulator();
    });

    it("a valid bucket plans a create of every field, defaults filled in", async () => {
      const r = await plan(instance, { name: "acme-photos.assets_2024", labels: { env: "prod", équipe: "données", team: "" } });
      expect(r.action).toBe(Action.CREATE);
      expect(r.changes.map((c) => c.field)).toEqual(["force_destroy", "labels", "location", "name", "storage_class", "uniform_bucket_level_access", "versioning"]);
      const dotted = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(30)}`;
      expect((await plan(instance, { name: dotted })).action).toBe(Action.CREATE);
    });

    const badNames: [string, string][] = [
      ["Acme-Photos", "must be lower-case"],
      ["gs://acme-photos", 'without "gs://"'],
      ["acme photos", "may hold only lower-case letters"],
      ["-acme", "must start and end with a letter or a digit"],
      ["ab", "must be 3 to 63 characters long"],
      ["a".repeat(64), "must be 3 to 63 characters long"],
      [`${"a".repeat(64)}.example.com`, "at most 63 characters between dots"],
      ["192.168.5.4", "must not be an IP address"],
      ["goog-photos", 'must not start with "goog"'],
      ["my-g00gle-photos", 'must not contain "google"'],
    ];
    for (const [name, problem] of badNames) {
      it(`refuses the bucket name "${name.length > 40 ? `${name.slice(0, 20)}…` : name}": ${problem}`, async () => {
        const err = await rejectionOf(plan(instance, { name }));
        expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
        expect(err.message).toContain('photos (gcs.bucket): field "name"');
        expect(err.message).toContain(problem);
        expect(err.details.map((d) => d.field)).toEqual(["name"]);
      });
    }

    const badLabels: [JsonObject, string][] = [
      [{ Env: "prod" }, 'key "Env" must start with a lower-case letter'],
      [{ "1st": "x" }, 'key "1st" must start with a lower-case letter'],
      [{ "": "x" }, 'key "" must start'],
      [{ env: "Prod" }, '"env" has the value "Prod", which may hold only'],
      [{ env: "a.b" }, "which may hold only"],
      [{ env: 3 }, '"env" must have a string value, got 3'],
      [{ [`k${"x".repeat(63)}`]: "v" }, "must be at most 63 characters long"],
      [{ env: "v".repeat(64) }, "value longer than 63 characters"],
      [Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, "v"])), "at most 64 labels, got 65"],
    ];
    for (const [labels, problem] of badLabels) {
      it(`refuses labels: ${problem}`, async () => {
        const err = await rejectionOf(plan(instance, { name: "acme-photos", labels }));
        expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
        expect(err.message).toContain('photos (gcs.bucket): field "labels"');
        expect(err.message).toContain(problem);
      });
    }

    it("refuses an unknown storage class or a malformed location", async () => {
      const sc = await rejectionOf(plan(instance, { name: "acme-photos", storage_class: "coldline" }));
      expect(sc.message).toContain('field "storage_class" must be one of STANDARD, NEARLINE, COLDLINE, ARCHIVE');
      const loc = await rejectionOf(plan(instance, { name: "acme-photos", location: "us central1" }));
      expect(loc.message).toContain('field "location" must be a location such as US');
      const typed = await rejectionOf(plan(instance, { name: "acme-photos", labels: ["env"] }));
      expect(typed.message).toContain('field "labels" must be a map');
    });

    it("plans in-place updates and a replace for a forceNew field", async () => {
      const before = { name: "acme-photos", labels: { env: "dev" } };
      const desired = { name: "acme-photos", labels: { env: "prod" }, versioning: true, storage_class: "NEARLINE", uniform_bucket_level_access: true, force_destroy: true };
      const update = await plan(instance, desired, before);
      expect(update.action).toBe(Action.UPDATE);
      expect(update.changes.map((c) => [c.field, c.forcesReplace])).toEqual([
        ["force_destroy", false],
        ["labels", false],
        ["storage_class", false],
        ["uniform_bucket_level_access", false],
        ["versioning", false],
      ]);
      const replace = await plan(instance, { name: "acme-photos", labels: { env: "dev" }, location: "EU" }, before);
      expect(replace.action).toBe(Action.REPLACE);
      expect(replace.changes.map((c) => [c.field, c.forcesReplace])).toEqual([["location", true]]);
      expect((await plan(instance, before, before)).action).toBe(Action.NOOP);
    });

    it("a create needs the provider's project_id; an update does not", async () => {
      const noProject = await configured({ api_endpoint: emulator.endpoint });
      const err = await rejectionOf(plan(noProject, { name: "acme-photos" }));
      expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(err.message).toContain('photos (gcs.bucket): cannot be created: the gcs provider\'s field "config.project_id" is not set');
      const update = await plan(noProject, { name: "acme-photos", versioning: true }, { name: "acme-photos" });
      expect(update.action).toBe(Action.UPDATE);
    });
  });

  describe("against the firebase Storage emulator as it is, without a bucket API", () => {
    let instance: PluginInstance;
    beforeAll(async () => {
      instance = await atEmulator();
    });

    it("create fails with UNSUPPORTED naming the resource: the server does not implement bucket creation (its 501)", async () => {
      const name = unique("create");
      const err = await rejectionOf(instance.client(IaCProvider).apply({ resource: BUCKET_REF, action: Action.CREATE, desiredConfigJson: encodeJson({ name, labels: { env: "test" } }) }));
      expect(err.code).toBe(ErrorCode.UNSUPPORTED);
      expect(err.message).toContain(`photos (gcs.bucket): creating bucket "${name}" in US at ${emulator.endpoint} without credentials`);
      expect(err.message).toContain("the server does not implement bucket creation: POST /storage/v1/b answered HTTP 501 Not Implemented");
    });

    it("read and drift detection of a bucket that exists fail with UNSUPPORTED instead of calling it a ghost (its bucket GET answers 404 about an object)", async () => {
      const name = unique("read");
      await emulatorStorage().bucket(name).file("a.txt").save("a");
      const ghostly = await rejectionOf(instance.client(IaCProvider).read({ resource: BUCKET_REF, prior: prior({ name }) }));
      expect(ghostly.code).toBe(ErrorCode.UNSUPPORTED);
      expect(ghostly.message).toContain(`reading bucket "${name}" at ${emulator.endpoint}`);
      expect(ghostly.message).toContain(
        `the server does not implement bucket metadata: GET /storage/v1/b/${name} answered 404 about an object ("No such object: storage/v1/b/${name}"), not about the bucket`,
      );
      const drift = await rejectionOf(instance.client(IaCDriftDetector).detectDrift({ resource: BUCKET_REF, prior: prior({ name }) }));
      expect(drift.code).toBe(ErrorCode.UNSUPPORTED);
      expect(drift.message).not.toMatch(/ghost/i);
    });

    it("update fails with UNSUPPORTED at reading the bucket's metadata, before any change", async () => {
      const name = unique("update");
      const err = await rejectionOf(
        instance.client(IaCProvider).apply({ resource: BUCKET_REF, action: Action.UPDATE, desiredConfigJson: encodeJson({ name, versioning: true }), prior: prior({ name }) }),
      );
      expect(err.code).toBe(ErrorCode.UNSUPPORTED);
      expect(err.message).toContain(`photos (gcs.bucket): reading bucket "${name}"`);
    });

    it("delete fails with UNSUPPORTED (bucket deletion is a 501), leaving the objects when force_destroy is false", async () => {
      const name = unique("keep");
      const bucket = emulatorStorage().bucket(name);
      await Promise.all(["a.txt", "dir/b.txt"].map((o) => bucket.file(o).save(o)));
      const err = await rejectionOf(instance.client(IaCProvider).apply({ resource: BUCKET_REF, action: Action.DELETE, prior: prior({ name }) }));
      expect(err.code).toBe(ErrorCode.UNSUPPORTED);
      expect(err.message).toContain(`photos (gcs.bucket): deleting bucket "${name}" at ${emulator.endpoint}`);
      expect(err.message).toContain(`the server does not implement bucket deletion: DELETE /storage/v1/b/${name} answered HTTP 501 Not Implemented`);
      expect(await objectsIn(name)).toEqual(["a.txt", "dir/b.txt"]);
    });
  });

  describe("servers that cannot be used, and calls out of time", () => {
    let silent: Server;
    let silentEndpoint = "";
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      // Accepts connections and never answers.
      silent = createServer((socket) => void sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      silentEndpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it("an unreachable endpoint fails with PROVIDER_ERROR naming the bucket and the endpoint", async () => {
      const instance = await configured({ project_id: PROJECT, api_endpoint: "http://127.0.0.1:1" });
      const name = unique("unreachable");
      const read = await rejectionOf(instance.client(IaCProvider).read({ resource: BUCKET_REF, prior: prior({ name }) }));
      expect(read.code).toBe(ErrorCode.PROVIDER_ERROR);
      expect(read.message).toContain(`photos (gcs.bucket): reading bucket "${name}" at http://127.0.0.1:1 without credentials: cannot connect`);
      expect(read.message).toContain("ECONNREFUSED");
    });

    it("declared credentials are named in errors, never shown", async () => {
      const instance = await configured({ project_id: PROJECT, api_endpoint: "http://127.0.0.1:1", credentials_json_env: "TEST_GCS_KEY" });
      const err = await rejectionOf(instance.client(IaCProvider).read({ resource: BUCKET_REF, prior: prior({ name: unique("keyed") }) }));
      expect(err.code).toBe(ErrorCode.PERMISSION_DENIED);
      expect(err.message).toContain("with credentials from the environment variable TEST_GCS_KEY: no usable credentials");
      expect(err.message).not.toContain("hunter2");
      expect(err.message).not.toContain("PRIVATE KEY");
    });

    it("a server that never answers: the call ends at its deadline with DEADLINE_EXCEEDED, not at the SDK's timeout", async () => {
      const instance = await configured({ project_id: PROJECT, api_endpoint: silentEndpoint });
      const started = Date.now();
      const err = await rejectionOf(
        instance.client(IaCProvider).read({ resource: BUCKET_REF, prior: prior({ name: unique("silent") }) }, { deadline: new Date(Date.now() + 1_000) }),
      );
      expect(err.code).toBe(ErrorCode.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  
    it("a create that arrives past its deadline fails with DEADLINE_EXCEEDED without sending a request", async () => {
      const instance = await configured({ project_id: PROJECT, api_endpoint: silentEndpoint });
      const before = sockets.size;
      const create = { resource: BUCKET_REF, action: Action.CREATE, desiredConfigJson: encodeJson({ name: unique("late") }) };
      const late = await rejectionOf(instance.client(IaCProvider).apply(create, { deadline: new Date(Date.now() - 1_000) }));
      expect(late.code).toBe(ErrorCode.DEADLINE_EXCEEDED);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sockets.size).toBe(before);
      const cancelled = await rejectionOf(instance.client(IaCProvider).apply(create, { signal: AbortSignal.abort() }));
      expect(cancelled.code).toBe(ErrorCode.CANCELLED);
      expect(sockets.size).toBe(before);
    });
  });
});
