// The s3 state backend plugin against an S3 emulator (s3rver): the
// conformance kit over gRPC, its configuration errors, an unreachable
// endpoint, the refusal of a server without conditional writes, and where
// records land in the bucket.
//
// s3rver ignores If-None-Match on PUT, so the kit runs with
// conditional_writes: false (check-then-write locking). The atomic path (the
// default, conditional writes) runs against s3rver behind a shim that answers
// If-None-Match: * as S3 does: the kit's lock checks and a lock race.
import { tmpdir } from "node:os";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginCatalog, type PluginSpec } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { lockRaceCheck, sampleState, stateBackendChecks } from "../../plugins/conformance/state-backend.js";
import { type ServedStateStore, servedStateStore } from "../../plugins/conformance/served-store.js";
import { describeStateBackendConformance } from "../../plugins/conformance/vitest.js";
import { ErrorCode } from "../../proto/errors.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import { type JsonObject, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { cloudPlugin } from "../helpers/paths.js";
import { quiet } from "../helpers/supervisors.js";
import { type S3Server, startS3Server } from "../servers/s3.js";

const BUCKET = "wfctl-state";
const KEY = "S3RVER";
const SECRET = "S3RVER";

const spec: PluginSpec = {
  name: "s3",
  kind: "state_backend",
  executable: process.execPath,
  args: [cloudPlugin("state-s3")],
  env: { TEST_S3_KEY: KEY, TEST_S3_SECRET: SECRET },
  source: "test",
};

const live = () => ({ signal: new AbortController().signal });

let server: S3Server;
let sdk: S3Client;
let supervisor: PluginSupervisor;
let n = 0;

/** The module config the suite uses against s3rver. */
function settings(overrides: JsonObject = {}): JsonObject {
  return {
    bucket: BUCKET,
    endpoint: server.endpoint,
    force_path_style: true,
    region: "us-east-1",
    access_key_id_env: "TEST_S3_KEY",
    secret_access_key_env: "TEST_S3_SECRET",
    conditional_writes: false,
    ...overrides,
  };
}

/**
 * A store configured with `config`, in a fresh namespace unless one is given.
 * Without `instance`, in a plugin process of its own, so a Configure that
 * fails leaves nothing behind for other tests.
 */
async function configured(config: JsonObject, options: { namespace?: string; instance?: string } = {}): Promise<ServedStateStore> {
  const namespace = options.namespace ?? `ns-${++n}`;
  const instance = await supervisor.acquire(supervisor.catalog.get("state_backend", "s3"), options.instance ?? `s3-${++n}`, async () => {});
  await instance.client(IaCStateBackendSetup).configure({ backend: "s3", configJson: encodeJson(config), workingDir: tmpdir(), namespace });
  return servedStateStore({ backend: () => instance.client(IaCStateBackend), controller: () => instance.client(PluginController) });
}

function s3Client(endpoint: string): S3Client {
  return new S3Client({ endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: KEY, secretAccessKey: SECRET } });
}

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await sdk.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key ?? "").sort();
}

beforeAll(async () => {
  server = await startS3Server();
  sdk = s3Client(server.endpoint);
  await sdk.send(new CreateBucketCommand({ Bucket: BUCKET }));
  supervisor = new PluginSupervisor(new PluginCatalog([spec]), quiet);
});

afterAll(async () => {
  await supervisor?.stopAll();
  sdk?.destroy();
  await server?.stop();
});

describe("s3 state plugin", () => {
  // A long timeout: s3rver serves a few hundred requests a second, and the SDK
  // reads the whole store for every ListStates page, so the 2500-record
  // listing check takes ~30 s here.
  describeStateBackendConformance("s3 (plugin over gRPC, s3rver)", async () => {
    const instance = await supervisor.acquire(supervisor.catalog.get("state_backend", "s3"), "conformance", async () => {});
    // Each Configure opens a fresh store (a new namespace) in the plugin.
    await instance.client(IaCStateBackendSetup).configure({ backend: "s3", configJson: encodeJson(settings()), workingDir: tmpdir(), namespace: `ns-${++n}` });
    return servedStateStore({ backend: () => instance.client(IaCStateBackend), controller: () => instance.client(PluginController) });
  }, { timeoutMs: 180_000, atomicLocks: false });

  it("stores each record as one object under <prefix><namespace>/resources/ and each lock under locks/", async () => {
    const store = await configured(settings(), { namespace: "landing", instance: "layout" });
    await store.saveState(sampleState("web/a b"), live());
    await store.saveState(sampleState("db"), live());
    const lock = await store.lock("stack", { holder: "me", operation: "apply", version: "v" }, live());
    expect(await keysUnder("wfctl/landing/")).toEqual(["wfctl/landing/locks/stack.lock", "wfctl/landing/resources/db.json", "wfctl/landing/resources/web%2Fa%20b.json"]);
    await store.unlock("stack", lock.lockId, live());
    await store.deleteState("db", live());
    expect(await keysUnder("wfctl/landing/")).toEqual(["wfctl/landing/resources/web%2Fa%20b.json"]);
    // The conditional-write probe of every Configure is removed again.
    expect(await keysUnder("wfctl/.wfctl-probe-")).toEqual([]);
  });

  it("uses the prefix setting, adding the trailing slash", async () => {
    const store = await configured(settings({ prefix: "team-a" }), { namespace: "prod", instance: "layout" });
    await store.saveState(sampleState("x"), live());
    expect(await keysUnder("team-a/")).toEqual(["team-a/prod/resources/x.json"]);
    expect(await store.listStates({}, live())).toHaveLength(1);
  });

  describe("configuration errors name the field", () => {
    it("an unknown key", async () => {
      const err = await rejectionOf(configured(settings({ buckett: "typo" })));
      expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(err.message).toContain('unknown field "config.buckett"');
      expect(err.details.map((d) => d.field)).toContain("config.buckett");
    });

    it("a literal secret is refused, pointing at the *_env form", async () => {
      for (const [key, instead] of [
        ["secret_access_key", "secret_access_key_env"],
        ["access_key_id", "access_key_id_env"],
        ["secret", "secret_access_key_env"],
      ] as const) {
        const err = await rejectionOf(configured(settings({ [key]: "hunter2" })));
        expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
        expect(err.message).toContain(`"config.${key}"`);
        expect(err.message).toContain(instead);
        expect(err.message).not.toContain("hunter2");
      }
    });

    it("a missing bucket, a bad endpoint, an unset environment variable", async () => {
      const noBucket = await rejectionOf(configured({ ...settings(), bucket: null }));
      expect(noBucket.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(noBucket.message).toContain('"config.bucket" is required');
      const badEndpoint = await rejectionOf(configured(settings({ endpoint: "localhost:9000" })));
      expect(badEndpoint.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(badEndpoint.message).toContain('"config.endpoint"');
      const unset = await rejectionOf(configured(settings({ secret_access_key_env: "WFCTL_TEST_NOT_SET" })));
      expect(unset.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(unset.message).toContain('"config.secret_access_key_env" names the environment variable WFCTL_TEST_NOT_SET, which is not set');
    });
  });

  it("an unreachable endpoint fails Configure with STATE_BACKEND_UNAVAILABLE naming bucket and endpoint, not the secret", async () => {
    const err = await rejectionOf(configured(settings({ endpoint: "http://127.0.0.1:1" })));
    expect(err.code).toBe(ErrorCode.STATE_BACKEND_UNAVAILABLE);
    expect(err.message).toContain(`"${BUCKET}"`);
    expect(err.message).toContain("http://127.0.0.1:1");
    expect(err.message).not.toContain(SECRET);
  });

  it("a bucket that does not exist fails Configure with STATE_BACKEND_UNAVAILABLE", async () => {
    const err = await rejectionOf(configured(settings({ bucket: "no-such-bucket" })));
    expect(err.code).toBe(ErrorCode.STATE_BACKEND_UNAVAILABLE);
    expect(err.message).toContain('"no-such-bucket"');
    expect(err.message).toContain("the bucket does not exist");
  });

  it("by default, a server that ignores If-None-Match (s3rver) is refused, saying why and what conditional_writes: false accepts", async () => {
    const { conditional_writes: _omitted, ...defaults } = settings();
    const err = await rejectionOf(configured(defaults));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toContain('"config.conditional_writes"');
    expect(err.message).toContain("does not support conditional writes");
    expect(err.message).toContain("If-None-Match");
    expect(err.message).toContain("conditional_writes: false");
    expect(err.message).toContain("race window");
    expect(err.message).toContain(server.endpoint);
    // The probe is removed even when Configure is refused.
    expect(await keysUnder("wfctl/.wfctl-probe-")).toEqual([]);
  });

  describe("against a server with conditional writes (s3rver behind the If-None-Match shim)", () => {
    let atomic: S3Server;
    let atomicSdk: S3Client;
    beforeAll(async () => {
      atomic = await startS3Server({ conditionalWrites: true });
      atomicSdk = s3Client(atomic.endpoint);
      await atomicSdk.send(new CreateBucketCommand({ Bucket: BUCKET }));
    });
    afterAll(async () => {
      atomicSdk?.destroy();
      await atomic?.stop();
    });
    /** The default settings: conditional_writes unset. */
    const defaults = (): JsonObject => {
      const { conditional_writes: _fallback, ...rest } = settings({ endpoint: atomic.endpoint });
      return rest;
    };

    for (const check of [...stateBackendChecks.filter((c) => /lock/i.test(c.name)), lockRaceCheck]) {
      it(`conformance (conditional writes): ${check.name}`, () => check.run(() => configured(defaults(), { instance: "atomic" })));
    }
  });
});
