// The gcs provider against Cloud Storage's bucket API: the plugin as a real
// process over gRPC, against the firebase Storage emulator with the bucket
// part of the JSON API in front of it (test/servers/gcs-buckets.cjs; buckets
// come only from buckets.insert, as on GCS). The provider conformance kit,
// then what the kit does not check: outputs, a taken name, a bucket that is
// not empty and force_destroy, config drift made through the JSON API behind
// wfctl's back (the kit's hooks only delete out of band), and an update
// racing another writer (its patch is conditional on the metageneration read).
import { randomBytes } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import { tmpdir } from "node:os";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { describeProviderConformance } from "../../plugins/conformance/vitest.js";
import { ErrorCode } from "../../proto/errors.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { Action, type ApplyResourceResponse, DriftClass, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, decodeJsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { BUCKET_REF, GCS_PROJECT as PROJECT, GcsProviderPlugins } from "../helpers/gcs-provider.js";
import { type GcsServer, gcsJsonApi, startGcsServer } from "../servers/gcs.js";

const RUN = randomBytes(3).toString("hex");
const KIT_BUCKETS = `wft-conf-${RUN}`;
const unique = (what: string) => `wft-${what}-${RUN}`;

let emulator: GcsServer;
let plugins: GcsProviderPlugins;

beforeAll(async () => {
  emulator = await startGcsServer({ buckets: "api" });
  plugins = new GcsProviderPlugins();
});

afterAll(async () => {
  await plugins?.stop();
  await emulator?.stop();
});

const settings = (endpoint = emulator.endpoint): JsonObject => ({ project_id: PROJECT, api_endpoint: endpoint });
/** The JSON API over plain HTTP, as any other client reaches the server. */
const jsonApi = (method: string, path: string, body?: unknown, signal?: AbortSignal) => gcsJsonApi(emulator, method, path, body, signal);

describeProviderConformance("gcs (plugin over gRPC, the bucket API in front of the firebase Storage emulator)", {
  resources: {
    "gcs.bucket": {
      name: KIT_BUCKETS,
      create: (name) => ({ name, labels: { env: "test" } }),
      update: (name) => ({ name, labels: { env: "prod", team: "storage" }, storage_class: "NEARLINE", versioning: true, uniform_bucket_level_access: true, force_destroy: true }),
      replace: (name) => ({ name, labels: { env: "prod", team: "storage" }, storage_class: "NEARLINE", versioning: true, uniform_bucket_level_access: true, force_destroy: true, location: "EU" }),
      // Behind the provider's back: a plain buckets.delete.
      async outOfBandDelete({ providerId, signal }) {
        const answer = await jsonApi("DELETE", `/b/${providerId}`, undefined, signal);
        if (answer.status !== 204) throw new Error(`DELETE /storage/v1/b/${providerId} answered HTTP ${answer.status}: ${answer.text}`);
      },
      // Behind the provider's back: a plain buckets.patch of the labels.
      async outOfBandChange({ providerId, signal }) {
        const actual = { env: "changed-by-hand" };
        const answer = await jsonApi("PATCH", `/b/${providerId}`, { labels: actual }, signal);
        if (answer.status !== 200) throw new Error(`PATCH /storage/v1/b/${providerId} answered HTTP ${answer.status}: ${answer.text}`);
        return { field: "labels", actual };
      },
    },
  },
  async connect() {
    const instance = await plugins.supervisor.acquire(plugins.supervisor.catalog.get("provider", "gcs"), "conformance", async () => {});
    return {
      provider: instance.client(IaCProvider),
      driftDetector: instance.serves(IaCDriftDetector) ? instance.client(IaCDriftDetector) : undefined,
      controller: instance.client(PluginController),
      config: settings(),
      workingDir: tmpdir(),
    };
  },
});

/** A prior state from what Apply answered, as the daemon records it. */
const recorded = (applied: ApplyResourceResponse) => ({ providerId: applied.providerId, configJson: applied.appliedConfigJson, outputsJson: applied.outputsJson });

const create = (instance: PluginInstance, config: JsonObject) =>
  instance.client(IaCProvider).apply({ resource: BUCKET_REF, action: Action.CREATE, desiredConfigJson: encodeJson(config) });

const update = (instance: PluginInstance, config: JsonObject, prior: ApplyResourceResponse) =>
  instance.client(IaCProvider).apply({ resource: BUCKET_REF, action: Action.UPDATE, desiredConfigJson: encodeJson(config), prior: recorded(prior) });

const remove = (instance: PluginInstance, prior: ApplyResourceResponse, overrides: JsonObject = {}) => {
  const config = { ...decodeJsonObject(prior.appliedConfigJson, "applied"), ...overrides };
  return instance.client(IaCProvider).apply({ resource: BUCKET_REF, action: Action.DELETE, prior: { ...recorded(prior), configJson: encodeJson(config) } });
};

const driftOf = async (instance: PluginInstance, prior: ApplyResourceResponse) => {
  const { result } = await instance.client(IaCDriftDetector).detectDrift({ resource: BUCKET_REF, prior: recorded(prior) });
  const fields = (result?.fields ?? []).map((f) => ({ field: f.field, expected: decodeJsonValue(f.expectedJson, "expected"), actual: decodeJsonValue(f.actualJson, "actual") }));
  return { class: result?.class, drifted: result?.drifted, fields };
};

/**
 * An HTTP proxy to the emulator that runs `beforePatch` before it forwards
 * each bucket PATCH: another writer changing the bucket between the
 * provider's read and its patch. Counts the patches it forwards.
 */
async function racingProxy(beforePatch: () => Promise<unknown>) {
  const proxy = { endpoint: "", patches: 0 };
  const forward = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method === "PATCH" && req.url?.startsWith("/storage/v1/b/")) {
      proxy.patches++;
      await beforePatch();
    }
    const contentType = req.headers["content-type"];
    const answer = await fetch(`${emulator.endpoint}${req.url ?? "/"}`, {
      method: req.method ?? "GET",
      ...(contentType ? { headers: { "content-type": contentType } } : {}),
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    });
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" });
    res.end(Buffer.from(await answer.arrayBuffer()));
  };
  const server = createServer((req, res) => {
    forward(req, res).catch((err: unknown) => res.writeHead(502).end(String(err)));
  });
  server.on("error", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { proxy, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe("gcs provider against the bucket API", () => {
  let instance: PluginInstance;
  beforeAll(async () => {
    instance = await plugins.configured(settings());
  });

  it("after the conformance kit, no bucket of it is left", async () => {
    expect((await jsonApi("GET", `/b?project=${PROJECT}&prefix=${KIT_BUCKETS}`)).body).toEqual({ kind: "storage#buckets" });
  });

  it("a create: its outputs, the bucket as the server has it, and Read reporting it with the location as configured", async () => {
    const name = unique("outputs");
    const labels = { team: "media", équipe: "données" };
    const created = await create(instance, { name, location: "eu", storage_class: "COLDLINE", labels });
    expect(created.providerId).toBe(name);
    expect(decodeJsonObject(created.outputsJson, "outputs")).toEqual({
      name,
      url: `gs://${name}`,
      self_link: `${emulator.endpoint}/storage/v1/b/${name}`,
      project_number: expect.stringMatching(/^\d{12}$/),
    });
    expect((await jsonApi("GET", `/b/${name}`)).body).toMatchObject({
      location: "EU",
      storageClass: "COLDLINE",
      labels,
      versioning: { enabled: false },
      iamConfiguration: { uniformBucketLevelAccess: { enabled: false } },
    });
    const read = await instance.client(IaCProvider).read({ resource: BUCKET_REF, prior: recorded(created) });
    const config = { name, location: "eu", storage_class: "COLDLINE", versioning: false, labels, uniform_bucket_level_access: false, force_destroy: false };
    expect(decodeJsonObject(read.configJson, "read")).toEqual(config);
    const replan = await instance.client(IaCProvider).plan({ resource: BUCKET_REF, desiredConfigJson: encodeJson(config), prior: { ...recorded(created), configJson: read.configJson } });
    expect(replan.action).toBe(Action.NOOP);
    await remove(instance, created);
  });

  it("a create of a name that is taken fails with ALREADY_EXISTS and leaves that bucket as it was", async () => {
    const name = unique("taken");
    expect((await jsonApi("POST", "/b?project=someone-else", { name, labels: { owner: "someone" } })).status).toBe(200);
    const err = await rejectionOf(create(instance, { name }));
    expect(err.code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(err.message).toContain(`photos (gcs.bucket): bucket "${name}" already exists (The requested bucket name is not available.`);
    expect((await jsonApi("GET", `/b/${name}`)).body).toMatchObject({ metageneration: "1", labels: { owner: "someone" } });
  });

  it("a delete refuses a bucket that holds objects, naming the first; with force_destroy it deletes every object, then the bucket", async () => {
    const name = unique("objects");
    const created = await create(instance, { name });
    const bucket = new Storage({ apiEndpoint: emulator.endpoint, projectId: PROJECT }).bucket(name);
    const objects = Array.from({ length: 40 }, (_, i) => `obj/${String(i).padStart(2, "0")}.txt`);
    await Promise.all(objects.map((o) => bucket.file(o).save(o)));

    const refused = await rejectionOf(remove(instance, created));
    expect(refused.code).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(refused.message).toContain(`photos (gcs.bucket): bucket "${name}" is not empty (obj/00.txt, obj/01.txt, obj/02.txt, obj/03.txt, obj/04.txt, …)`);
    expect(refused.message).toContain("set force_destroy: true");
    expect((await bucket.getFiles())[0]).toHaveLength(40);

    await remove(instance, created, { force_destroy: true });
    expect((await jsonApi("GET", `/b/${name}`)).status).toBe(404);
    await remove(instance, created, { force_destroy: true });
  });

  it("a change through the JSON API behind wfctl's back is CONFIG drift naming each field; an update puts the bucket back", async () => {
    const name = unique("drift");
    const desired = { name, labels: { env: "test", team: "a" } };
    const created = await create(instance, desired);
    expect(await driftOf(instance, created)).toEqual({ class: DriftClass.IN_SYNC, drifted: false, fields: [] });

    const changed = await jsonApi("PATCH", `/b/${name}`, { labels: { env: "hacked", team: null, intruder: "x" }, storageClass: "ARCHIVE", versioning: { enabled: true } });
    expect(changed.status).toBe(200);
    expect(await driftOf(instance, created)).toEqual({
      class: DriftClass.CONFIG,
      drifted: true,
      fields: [
        { field: "labels", expected: { env: "test", team: "a" }, actual: { env: "hacked", intruder: "x" } },
        { field: "storage_class", expected: "STANDARD", actual: "ARCHIVE" },
        { field: "versioning", expected: false, actual: true },
      ],
    });

    await update(instance, desired, created);
    expect((await jsonApi("GET", `/b/${name}`)).body).toMatchObject({ metageneration: "3", labels: { env: "test", team: "a" }, storageClass: "STANDARD", versioning: { enabled: false } });
    expect((await jsonApi("GET", `/b/${name}`)).body?.["labels"]).not.toHaveProperty("intruder");
    expect((await driftOf(instance, created)).class).toBe(DriftClass.IN_SYNC);
    await remove(instance, created);
  });

  it("an update patches on the metageneration it read: a change between its read and its patch makes it read again and patch that", async () => {
    const name = unique("race");
    const created = await create(instance, { name, labels: { env: "dev" } });
    let raced = false;
    const { proxy, close } = await racingProxy(async () => {
      if (raced) return;
      raced = true;
      expect((await jsonApi("PATCH", `/b/${name}`, { labels: { intruder: "x" } })).status).toBe(200);
    });
    try {
      const racing = await plugins.configured(settings(proxy.endpoint));
      await update(racing, { name, labels: { env: "prod" } }, created);
      expect(proxy.patches).toBe(2);
      // The second patch was computed from the second read: the intruder's label is gone too.
      expect((await jsonApi("GET", `/b/${name}`)).body).toMatchObject({ metageneration: "3", labels: { env: "prod" } });
    } finally {
      await close();
    }
    await remove(instance, created);
  });

  it("an update that loses the race every time fails with FAILED_PRECONDITION after 3 rounds, leaving the other writer's change", async () => {
    const name = unique("lost");
    const created = await create(instance, { name, labels: { env: "dev" } });
    let round = 0;
    const { proxy, close } = await racingProxy(() => jsonApi("PATCH", `/b/${name}`, { labels: { writer: `other-${++round}` } }));
    try {
      const racing = await plugins.configured(settings(proxy.endpoint));
      const err = await rejectionOf(update(racing, { name, labels: { env: "prod" } }, created));
      expect(err.code).toBe(ErrorCode.FAILED_PRECONDITION);
      expect(err.message).toContain(`photos (gcs.bucket): bucket "${name}" changed between each of 3 reads and the patch that followed (HTTP 412: At least one of the pre-conditions`);
      expect(proxy.patches).toBe(3);
      expect((await jsonApi("GET", `/b/${name}`)).body).toMatchObject({ metageneration: "4", labels: { env: "dev", writer: "other-3" } });
    } finally {
      await close();
    }
    await remove(instance, created);
  });
});
