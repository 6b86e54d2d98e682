// The bucket part of the Cloud Storage JSON API that the GCS test server
// serves in front of the firebase Storage emulator (test/servers/gcs-buckets.cjs),
// checked against what the API reference says, over plain HTTP: the gcs
// provider's tests are only as good as these answers. Objects are the
// emulator's own, written with the Cloud Storage SDK.
import { randomBytes } from "node:crypto";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GcsServer, gcsJsonApi, startGcsServer } from "../servers/gcs.js";

const PROJECT = "demo-wfctl";
const RUN = randomBytes(3).toString("hex");
const unique = (what: string) => `wft-api-${what}-${RUN}`;

let api: GcsServer;
let firstUse: GcsServer;
let bare: GcsServer;

beforeAll(async () => {
  [api, firstUse, bare] = await Promise.all([startGcsServer({ buckets: "api" }), startGcsServer(), startGcsServer({ buckets: "none" })]);
});
afterAll(async () => {
  await Promise.all([api?.stop(), firstUse?.stop(), bare?.stop()]);
});

const call = (method: string, path: string, body?: unknown) => gcsJsonApi(api, method, path, body);
const insert = (body: Record<string, unknown>, project = PROJECT) => call("POST", `/b?project=${project}`, body);

/** The API's error body, exactly. */
const apiError = (code: number, reason: string, message: string) => ({ error: { code, message, errors: [{ message, domain: "global", reason }] } });

describe("the bucket API in front of the firebase Storage emulator", () => {
  it("buckets.insert creates the bucket and answers its resource; buckets.get answers the same", async () => {
    const name = unique("insert");
    const created = await insert({ name, location: "eu", labels: { env: "dev" }, versioning: { enabled: true } });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      kind: "storage#bucket",
      id: name,
      name,
      selfLink: `${api.endpoint}/storage/v1/b/${name}`,
      metageneration: "1",
      etag: "CAE=",
      location: "EU",
      locationType: "multi-region",
      storageClass: "STANDARD",
      labels: { env: "dev" },
      versioning: { enabled: true },
      iamConfiguration: { uniformBucketLevelAccess: { enabled: false }, bucketPolicyOnly: { enabled: false }, publicAccessPrevention: "inherited" },
    });
    expect(created.body?.["projectNumber"]).toMatch(/^\d{12}$/);
    expect(Date.parse(String(created.body?.["timeCreated"]))).not.toBeNaN();
    expect((await call("GET", `/b/${name}`)).body).toEqual(created.body);

    const plain = await insert({ name: unique("plain"), location: "us-central1", storageClass: "nearline" });
    expect(plain.body).toMatchObject({ location: "US-CENTRAL1", locationType: "region", storageClass: "NEARLINE" });
    expect(plain.body).not.toHaveProperty("labels");
    expect(plain.body).not.toHaveProperty("versioning");
  });

  it("buckets.insert refuses a taken name (409), a missing project or a bad name (400), and says what it does not model (501)", async () => {
    const name = unique("taken");
    expect((await insert({ name })).status).toBe(200);
    expect(await insert({ name })).toMatchObject({
      status: 409,
      body: apiError(409, "conflict", "Your previous request to create the named bucket succeeded and you already own it."),
    });
    const elsewhere = await insert({ name }, "someone-else");
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.body).toMatchObject({ error: { code: 409, errors: [{ reason: "conflict" }] } });
    expect(String((elsewhere.body?.["error"] as { message: string }).message)).toContain("The requested bucket name is not available");
    expect(await call("POST", "/b", { name: unique("noproject") })).toMatchObject({ status: 400, body: apiError(400, "required", "Required parameter: project") });
    expect(await insert({ name: "Not_A_Bucket" })).toMatchObject({ status: 400, body: apiError(400, "invalid", "Invalid bucket name: 'Not_A_Bucket'") });
    expect((await insert({ name: unique("labels"), labels: { Env: "x" } })).body).toMatchObject({ error: { code: 400, errors: [{ reason: "invalid" }] } });
    const lifecycle = await insert({ name: unique("lifecycle"), lifecycle: { rule: [] } });
    expect(lifecycle.status).toBe(501);
    expect(String((lifecycle.body?.["error"] as { message: string }).message)).toContain("the bucket field lifecycle is not implemented");
    expect((await call("GET", `/b/${unique("lifecycle")}`)).status).toBe(404);
  });

  it("buckets.get of a missing bucket is 404 notFound with the API's error body", async () => {
    expect(await call("GET", `/b/${unique("missing")}`)).toMatchObject({ status: 404, body: apiError(404, "notFound", "The specified bucket does not exist.") });
  });

  it("buckets.patch merges labels (null removes one), versioning and uniform bucket-level access; metageneration goes up on each patch", async () => {
    const name = unique("patch");
    await insert({ name, labels: { env: "dev", team: "a" } });
    const first = await call("PATCH", `/b/${name}`, { labels: { env: null, owner: "ci" }, versioning: { enabled: true } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ metageneration: "2", etag: "CAI=", labels: { team: "a", owner: "ci" }, versioning: { enabled: true } });
    expect(first.body?.["updated"]).not.toBe(first.body?.["timeCreated"]);
    const second = await call("PATCH", `/b/${name}`, { iamConfiguration: { uniformBucketLevelAccess: { enabled: true } }, storageClass: "COLDLINE" });
    expect(second.body).toMatchObject({ metageneration: "3", storageClass: "COLDLINE", iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } });
    const { uniformBucketLevelAccess, bucketPolicyOnly } = second.body?.["iamConfiguration"] as Record<string, { lockedTime: string }>;
    const days = (Date.parse(uniformBucketLevelAccess?.lockedTime ?? "") - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThanOrEqual(90);
    expect(bucketPolicyOnly).toEqual(uniformBucketLevelAccess);
    const third = await call("PATCH", `/b/${name}`, { labels: null, versioning: { enabled: false } });
    expect(third.body).toMatchObject({ metageneration: "4", versioning: { enabled: false } });
    expect(third.body).not.toHaveProperty("labels");
    expect((await call("PATCH", `/b/${unique("nobody")}`, { labels: {} })).status).toBe(404);
  });

  it("ifMetagenerationMatch: a patch, get or delete on another metageneration is 412 conditionNotMet and changes nothing", async () => {
    const name = unique("precondition");
    await insert({ name, labels: { env: "dev" } });
    const conditionNotMet = apiError(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.");
    expect(await call("PATCH", `/b/${name}?ifMetagenerationMatch=2`, { labels: { env: "prod" } })).toMatchObject({ status: 412, body: conditionNotMet });
    expect((await call("GET", `/b/${name}`)).body).toMatchObject({ metageneration: "1", labels: { env: "dev" } });
    expect((await call("PATCH", `/b/${name}?ifMetagenerationMatch=1`, { labels: { env: "prod" } })).body).toMatchObject({ metageneration: "2", labels: { env: "prod" } });
    expect(await call("GET", `/b/${name}?ifMetagenerationMatch=1`)).toMatchObject({ status: 412, body: conditionNotMet });
    expect((await call("GET", `/b/${name}?ifMetagenerationNotMatch=2`)).status).toBe(304);
    expect(await call("PATCH", `/b/${name}?ifMetagenerationNotMatch=2`, {})).toMatchObject({ status: 412, body: conditionNotMet });
    expect(await call("DELETE", `/b/${name}?ifMetagenerationMatch=1`)).toMatchObject({ status: 412, body: conditionNotMet });
    expect((await call("DELETE", `/b/${name}?ifMetagenerationMatch=3`)).status).toBe(412);
    expect((await call("DELETE", `/b/${name}?ifMetagenerationMatch=2`)).status).toBe(204);
  });

  it("buckets.delete refuses a bucket the emulator holds an object in (409), then deletes it empty (204), then it is 404", async () => {
    const name = unique("delete");
    await insert({ name });
    const file = new Storage({ apiEndpoint: api.endpoint, projectId: PROJECT }).bucket(name).file("dir/a.txt");
    await file.save("a");
    expect(await call("DELETE", `/b/${name}`)).toMatchObject({ status: 409, body: apiError(409, "conflict", "The bucket you tried to delete is not empty.") });
    expect((await call("GET", `/b/${name}`)).status).toBe(200);
    await file.delete();
    expect(await call("DELETE", `/b/${name}`)).toMatchObject({ status: 204, text: "" });
    expect((await call("GET", `/b/${name}`)).status).toBe(404);
    expect(await call("DELETE", `/b/${name}`)).toMatchObject({ status: 404, body: apiError(404, "notFound", "The specified bucket does not exist.") });
  });

  it("buckets.list lists a project's buckets by name, a page at a time", async () => {
    const prefix = unique("list");
    for (const n of [3, 1, 2]) await insert({ name: `${prefix}-${n}` });
    await insert({ name: `${prefix}-9` }, "someone-else");
    const page = await call("GET", `/b?project=${PROJECT}&prefix=${prefix}&maxResults=2`);
    expect((page.body?.["items"] as { name: string }[]).map((b) => b.name)).toEqual([`${prefix}-1`, `${prefix}-2`]);
    const rest = await call("GET", `/b?project=${PROJECT}&prefix=${prefix}&maxResults=2&pageToken=${String(page.body?.["nextPageToken"])}`);
    expect((rest.body?.["items"] as { name: string }[]).map((b) => b.name)).toEqual([`${prefix}-3`]);
    expect(rest.body).not.toHaveProperty("nextPageToken");
    expect((await call("GET", `/b?project=${PROJECT}&prefix=${unique("none")}`)).body).toEqual({ kind: "storage#buckets" });
  });

  it('"api": objects of a bucket that was never created are 404, as on Cloud Storage', async () => {
    const name = unique("never");
    const err = await new Storage({ apiEndpoint: api.endpoint, projectId: PROJECT }).bucket(name).file("a.txt").save("a", { resumable: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 404, message: "The specified bucket does not exist." });
    expect((await call("GET", `/b/${name}/o`)).status).toBe(404);
    expect((await call("GET", `/b/${name}`)).status).toBe(404);
  });

  it('"first-use": the first request about a bucket\'s objects creates it, as the emulator does, and the bucket API then has it', async () => {
    const name = unique("firstuse");
    await new Storage({ apiEndpoint: firstUse.endpoint, projectId: PROJECT }).bucket(name).file("a.txt").save("a");
    const bucket = await gcsJsonApi(firstUse, "GET", `/b/${name}`);
    expect(bucket.body).toMatchObject({ name, metageneration: "1", location: "US", storageClass: "STANDARD" });
    expect((await gcsJsonApi(firstUse, "DELETE", `/b/${name}`)).status).toBe(409);
  });

  it('"none": the emulator as it is has no bucket API', async () => {
    expect(await gcsJsonApi(bare, "POST", `/b?project=${PROJECT}`, { name: unique("bare") })).toMatchObject({ status: 501 });
    const get = await gcsJsonApi(bare, "GET", `/b/${unique("bare")}`);
    expect(get.status).toBe(404);
    expect(get.text).toContain("No such object");
  });
});
