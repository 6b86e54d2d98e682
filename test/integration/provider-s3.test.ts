// The s3 provider as wfctl runs it: the plugin as a real process over gRPC,
// against an S3 emulator (s3rver), checked through the S3 API itself.
//
// s3rver 3.7.1 implements CreateBucket, HeadBucket, DeleteBucket and the
// object calls force_destroy needs, but none of the bucket versioning or
// tagging calls (see plugins/provider-s3/README.md): the kit's update step
// changes force_destroy, and the versioning and tags tests check that the
// provider refuses them clearly, naming the field, and leaves nothing behind.
import { CreateBucketCommand, DeleteBucketCommand, HeadBucketCommand, ListBucketsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginCatalog, builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { describeProviderConformance } from "../../plugins/conformance/vitest.js";
import { ErrorCode, type WfctlError } from "../../proto/errors.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { Action, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import type { UnaryClient } from "../../proto/grpc.js";
import { type JsonObject, decodeJsonObject, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { tempDir } from "../helpers/paths.js";
import { quiet } from "../helpers/supervisors.js";
import { type S3Server, startS3Server } from "../servers/s3.js";

/** s3rver's only account: the key and the secret are both this. */
const CREDENTIAL = "S3RVER";
const RUN = Math.random().toString(36).slice(2, 8);
const bucketName = (what: string) => `wft-${what}-${RUN}`;

const dir = tempDir("wft-ps3-");
let server: S3Server;
let sdk: S3Client;
let supervisor: PluginSupervisor;
let instances = 0;

/** The built-in "s3" provider, with the test credentials (and an unknown key id) in its environment. */
function catalog(): PluginCatalog {
  const env = { TEST_S3_KEY: CREDENTIAL, TEST_S3_SECRET: CREDENTIAL, TEST_S3_WRONG: "not-a-key" };
  return new PluginCatalog(builtinPlugins().map((spec) => (spec.kind === "provider" && spec.name === "s3" ? { ...spec, env } : spec)));
}

/** The iac.provider config the suite uses against s3rver. */
function settings(overrides: JsonObject = {}): JsonObject {
  return {
    endpoint: server.endpoint,
    force_path_style: true,
    region: "us-east-1",
    access_key_id_env: "TEST_S3_KEY",
    secret_access_key_env: "TEST_S3_SECRET",
    ...overrides,
  };
}

type Provider = UnaryClient<typeof IaCProvider>;
type Prior = { providerId: string; configJson: Uint8Array; outputsJson: Uint8Array };
const ref = (name: string) => ({ name, type: "s3.bucket" });

/**
 * A provider configured with `config`, in a plugin process of its own unless
 * `instanceKey` names a shared one (for Configure calls that must fail).
 */
async function configured(config: JsonObject, instanceKey = `s3-${++instances}`): Promise<Provider> {
  const instance = await supervisor.acquire(supervisor.catalog.get("provider", "s3"), instanceKey, async () => {});
  const provider = instance.client(IaCProvider);
  await provider.configure({ configJson: encodeJson(config), workingDir: dir.path });
  return provider;
}

async function create(provider: Provider, name: string, config: JsonObject): Promise<Prior> {
  const r = await provider.apply({ resource: ref(name), action: Action.CREATE, desiredConfigJson: encodeJson(config) });
  return { providerId: r.providerId, configJson: r.appliedConfigJson, outputsJson: r.outputsJson };
}

async function update(provider: Provider, name: string, config: JsonObject, prior: Prior): Promise<Prior> {
  const r = await provider.apply({ resource: ref(name), action: Action.UPDATE, desiredConfigJson: encodeJson(config), prior });
  return { providerId: r.providerId, configJson: r.appliedConfigJson, outputsJson: r.outputsJson };
}

async function destroy(provider: Provider, name: string, prior: Prior): Promise<void> {
  await provider.apply({ resource: ref(name), action: Action.DELETE, prior });
}

async function read(provider: Provider, name: string, prior: Prior) {
  const r = await provider.read({ resource: ref(name), prior });
  return r.found ? { found: true, config: decodeJsonObject(r.configJson, "config") } : { found: false };
}

/** Whether the bucket exists, asked of s3rver directly. */
async function bucketExists(bucket: string): Promise<boolean> {
  try {
    await sdk.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

async function putObjects(bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 32) {
    await Promise.all(keys.slice(i, i + 32).map((Key) => sdk.send(new PutObjectCommand({ Bucket: bucket, Key, Body: `object ${Key}` }))));
  }
}

/** The error, which must name the field in its details (unless undefined) and never carry the secret. */
function expectNamed(err: WfctlError, code: ErrorCode, field: string | undefined, ...texts: string[]): void {
  expect(err.code).toBe(code);
  if (field !== undefined) expect(err.details.map((d) => d.field)).toContain(field);
  for (const text of texts) expect(err.message).toContain(text);
  expect(err.message).not.toContain(CREDENTIAL);
}

beforeAll(async () => {
  server = await startS3Server();
  sdk = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: CREDENTIAL, secretAccessKey: CREDENTIAL } });
  supervisor = new PluginSupervisor(catalog(), quiet);
});

afterAll(async () => {
  await supervisor?.stopAll();
  sdk?.destroy();
  await server?.stop();
  dir.cleanup();
});

// The update changes force_destroy, a setting of the provider's own: s3rver
// has no bucket call for versioning or tags to change. For the same reason
// there is no outOfBandChange (the config-drift check): nothing of a bucket
// can be changed behind the provider's back on s3rver.
describeProviderConformance("s3 (plugin over gRPC, s3rver)", {
  resources: {
    "s3.bucket": {
      name: `conf-${RUN}`,
      create: (name) => ({ bucket: name }),
      update: (name) => ({ bucket: name, force_destroy: true }),
      replace: (name) => ({ bucket: `${name}-moved`, force_destroy: true }),
      outOfBandDelete: async ({ providerId, signal }) => void (await sdk.send(new DeleteBucketCommand({ Bucket: providerId }), { abortSignal: signal })),
    },
  },
  async connect() {
    const instance = await supervisor.acquire(supervisor.catalog.get("provider", "s3"), "conformance", async () => {});
    return {
      provider: instance.client(IaCProvider),
      driftDetector: instance.serves(IaCDriftDetector) ? instance.client(IaCDriftDetector) : undefined,
      controller: instance.client(PluginController),
      config: settings(),
      workingDir: dir.path,
    };
  },
});

describe("s3 provider", () => {
  it("after the conformance kit, no bucket of it is left", async () => {
    const { Buckets = [] } = await sdk.send(new ListBucketsCommand({}));
    expect(Buckets.map((b) => b.Name).filter((name) => name?.startsWith(`conf-${RUN}`))).toEqual([]);
  });

  it("a bucket's outputs say where it is; Read reports no versioning and no tags on s3rver", async () => {
    const provider = await configured(settings());
    const bucket = bucketName("outputs");
    const prior = await create(provider, "assets", { bucket });
    expect(prior.providerId).toBe(bucket);
    expect(decodeJsonObject(prior.outputsJson, "outputs")).toEqual({ bucket, region: "us-east-1", arn: `arn:aws:s3:::${bucket}`, url: `${server.endpoint}/${bucket}` });
    expect(await read(provider, "assets", prior)).toEqual({ found: true, config: { bucket, versioning: false, tags: {}, force_destroy: false } });
    await destroy(provider, "assets", prior);
    expect(await bucketExists(bucket)).toBe(false);
  });

  describe("configuration errors name the field", () => {
    it("unknown keys, a bad endpoint or region, an unset variable, a profile with *_env, a wrong type", async () => {
      const cases: [JsonObject, string, string][] = [
        [{ endpont: "http://x" }, "endpont", "is unknown"],
        [{ endpoint: "localhost:9000" }, "config.endpoint", 'field "config.endpoint" must be an http:// or https:// URL'],
        [{ endpoint: "http://key:pass@127.0.0.1:9000" }, "config.endpoint", "must not carry credentials"],
        [{ region: "US East" }, "config.region", 'field "config.region" must be a region name'],
        [{ secret_access_key_env: "WFT_NOT_SET" }, "config.secret_access_key_env", "names the environment variable WFT_NOT_SET, which is not set"],
        [{ access_key_id_env: null }, "config.access_key_id_env", "is required with secret_access_key_env"],
        [{ profile: "dev" }, "config.profile", "cannot be combined"],
        [{ force_path_style: "yes" }, "force_path_style", "must be a bool"],
      ];
      for (const [overrides, field, text] of cases) {
        const err = await rejectionOf(configured(settings(overrides), "refused"));
        expectNamed(err, ErrorCode.CONFIG_INVALID, field, text);
        expect(err.message).not.toContain("pass");
      }
    });

    it("a literal credential is refused, naming the *_env field to use instead and never echoing it", async () => {
      for (const key of ["secret_access_key", "access_key_id", "session_token"]) {
        const instead = `${key}_env`;
        const err = await rejectionOf(configured(settings({ [key]: "hunter2" }), "refused"));
        expectNamed(err, ErrorCode.CONFIG_INVALID, `config.${key}`, `"config.${key}" is refused`, instead);
        expect(err.message).not.toContain("hunter2");
      }
    });

    it("an invalid bucket name fails Plan and Apply CREATE with CONFIG_INVALID naming bucket, creating nothing", async () => {
      const provider = await configured(settings());
      for (const [bucket, text] of [
        ["Upper_Case", "lowercase letters, digits, dots and hyphens"],
        ["ab", "3 to 63 characters"],
        ["192.168.1.1", "IP address"],
        ["a..b", "two dots"],
      ] as const) {
        const plan = await rejectionOf(provider.plan({ resource: ref("bad"), desiredConfigJson: encodeJson({ bucket }) }));
        expectNamed(plan, ErrorCode.CONFIG_INVALID, "bucket", `"${bucket}" is not a valid bucket name`, text, "bad (s3.bucket)");
        const apply = await rejectionOf(create(provider, "bad", { bucket }));
        expect(apply.code).toBe(ErrorCode.CONFIG_INVALID);
      }
      const tags = await rejectionOf(provider.plan({ resource: ref("bad"), desiredConfigJson: encodeJson({ bucket: bucketName("tags"), tags: { "aws:owner": "me" } }) }));
      expectNamed(tags, ErrorCode.CONFIG_INVALID, "tags.aws:owner", "reserves");
      expect((await sdk.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).not.toContain("ab");
    });
  });

  it("an unreachable endpoint fails the call clearly: the bucket, the endpoint, config.endpoint, no secret", async () => {
    // Configure contacts nothing (which calls the credentials may make is per bucket): the first call says it.
    const provider = await configured(settings({ endpoint: "http://127.0.0.1:1" }));
    const bucket = bucketName("unreachable");
    const prior = { providerId: bucket, configJson: encodeJson({ bucket }), outputsJson: encodeJson({}) };
    for (const call of [() => read(provider, "far", prior), () => create(provider, "far", { bucket })]) {
      const err = await rejectionOf(call());
      expectNamed(err, ErrorCode.PROVIDER_ERROR, "config.endpoint", `far (s3.bucket): bucket "${bucket}" at endpoint http://127.0.0.1:1`, "cannot connect", "ECONNREFUSED");
    }
  });

  // s3rver checks the access key id but not SigV4 signatures: a wrong secret would pass, an unknown key does not.
  it("wrong credentials fail with PERMISSION_DENIED naming the variables, not their values", async () => {
    const provider = await configured(settings({ access_key_id_env: "TEST_S3_WRONG" }));
    const bucket = bucketName("denied");
    const err = await rejectionOf(create(provider, "denied", { bucket }));
    expectNamed(err, ErrorCode.PERMISSION_DENIED, undefined, "access denied (InvalidAccessKeyId, HTTP 403)", "TEST_S3_WRONG, TEST_S3_SECRET");
    expect(err.message).not.toContain("not-a-key");
    expect(await bucketExists(bucket)).toBe(false);
  });

  it("creating a bucket that already exists is ALREADY_EXISTS, and the bucket is left as it was", async () => {
    const bucket = bucketName("taken");
    await sdk.send(new CreateBucketCommand({ Bucket: bucket }));
    await putObjects(bucket, ["keep.txt"]);
    const provider = await configured(settings());
    const err = await rejectionOf(create(provider, "taken", { bucket }));
    expectNamed(err, ErrorCode.ALREADY_EXISTS, "bucket", `bucket "${bucket}" already exists`, "does not adopt");
    const { Contents = [] } = await sdk.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(Contents.map((o) => o.Key)).toEqual(["keep.txt"]);
  });

  describe("force_destroy", () => {
    it("false: Apply DELETE refuses a bucket with objects, naming some; true (applied): it deletes every object, then the bucket", async () => {
      const provider = await configured(settings());
      const bucket = bucketName("full");
      const prior = await create(provider, "full", { bucket });
      // More than one DeleteObjects batch (1000 keys).
      const keys = ["a.txt", "deep/in/b.txt", ...Array.from({ length: 1003 }, (_, i) => `many/${String(i).padStart(4, "0")}`)];
      await putObjects(bucket, keys);

      const refused = await rejectionOf(destroy(provider, "full", prior));
      expectNamed(refused, ErrorCode.FAILED_PRECONDITION, "force_destroy", `full (s3.bucket): bucket "${bucket}"`, "is not empty", "a.txt, deep/in/b.txt", "set force_destroy: true");
      expect(await bucketExists(bucket)).toBe(true);
      expect((await sdk.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(1000);

      const forced = await update(provider, "full", { bucket, force_destroy: true }, prior);
      expect(await read(provider, "full", forced)).toMatchObject({ found: true, config: { force_destroy: true } });
      await destroy(provider, "full", forced);
      expect(await bucketExists(bucket)).toBe(false);
      // Deleting what is gone succeeds, as the daemon needs for a ghost.
      await destroy(provider, "full", forced);
    }, 120_000);

    it("true on an empty bucket deletes it", async () => {
      const provider = await configured(settings());
      const bucket = bucketName("empty");
      const prior = await create(provider, "empty", { bucket, force_destroy: true });
      await destroy(provider, "empty", prior);
      expect(await bucketExists(bucket)).toBe(false);
    });
  });

  describe("versioning and tags (s3rver implements neither bucket call)", () => {
    it("a create with versioning: true fails UNSUPPORTED naming the field and the call, and removes the bucket it made", async () => {
      const provider = await configured(settings());
      const bucket = bucketName("versioned");
      const err = await rejectionOf(create(provider, "versioned", { bucket, versioning: true }));
      // s3rver does not route ?versioning: it takes the PUT for a CreateBucket and answers BucketAlreadyExists.
      expectNamed(err, ErrorCode.UNSUPPORTED, "versioning", `versioned (s3.bucket): bucket "${bucket}"`, 'enabling versioning (field "versioning")', "does not implement PutBucketVersioning", "it was removed again");
      expect(await bucketExists(bucket)).toBe(false);
    });

    it("a create with tags fails UNSUPPORTED naming the field and the call, and removes the bucket it made", async () => {
      const provider = await configured(settings());
      const bucket = bucketName("tagged");
      const err = await rejectionOf(create(provider, "tagged", { bucket, tags: { team: "infra" } }));
      expectNamed(err, ErrorCode.UNSUPPORTED, "tags", 'setting the tags (field "tags")', "does not implement PutBucketTagging", "NotImplemented, HTTP 501", "it was removed again");
      expect(await bucketExists(bucket)).toBe(false);
    });

    it("an update turning versioning on or adding tags fails UNSUPPORTED naming the field; the bucket stays as it was", async () => {
      const provider = await configured(settings());
      const bucket = bucketName("update");
      const prior = await create(provider, "upd", { bucket });
      const versioning = await rejectionOf(update(provider, "upd", { bucket, versioning: true }, prior));
      expectNamed(versioning, ErrorCode.UNSUPPORTED, "versioning", "does not implement PutBucketVersioning");
      const tags = await rejectionOf(update(provider, "upd", { bucket, tags: { team: "infra" } }, prior));
      expectNamed(tags, ErrorCode.UNSUPPORTED, "tags", "does not implement PutBucketTagging");
      expect(await read(provider, "upd", prior)).toEqual({ found: true, config: { bucket, versioning: false, tags: {}, force_destroy: false } });
      await destroy(provider, "upd", prior);
      expect(await bucketExists(bucket)).toBe(false);
    });
  });
});
