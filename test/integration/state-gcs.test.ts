// The gcs state backend plugin against a Cloud Storage emulator
// (firebase-tools' Storage emulator, test/servers/gcs.ts): the conformance
// kit over gRPC, its configuration errors, an unreachable endpoint, the
// refusal of a server that ignores preconditions, and where records land in
// the bucket.
//
// The emulator ignores preconditions; GCS honours them. So the kit runs with
// the default settings (atomic locks by ifGenerationMatch=0) against the
// emulator behind a shim that answers preconditions as GCS does, and the
// check-then-write fallback (conditional_writes: false) runs against the
// emulator as it is.
import { tmpdir } from "node:os";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginCatalog, type PluginSpec } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { sampleState, stateBackendChecks } from "../../plugins/conformance/state-backend.js";
import { type ServedStateStore, servedStateStore } from "../../plugins/conformance/served-store.js";
import { describeStateBackendConformance } from "../../plugins/conformance/vitest.js";
import { ErrorCode } from "../../proto/errors.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import { type JsonObject, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { cloudPlugin } from "../helpers/paths.js";
import { quiet } from "../helpers/supervisors.js";
import { type GcsServer, startGcsServer } from "../servers/gcs.js";

const BUCKET = "wfctl-state";
const FAKE_KEY = JSON.stringify({ type: "service_account", client_email: "ci@example.iam.gserviceaccount.com", private_key: "-----BEGIN PRIVATE KEY-----hunter2" });

const spec: PluginSpec = {
  name: "gcs",
  kind: "state_backend",
  executable: process.execPath,
  args: [cloudPlugin("state-gcs")],
  env: { TEST_GCS_BAD_JSON: "{not json hunter2", TEST_GCS_KEY: FAKE_KEY },
  source: "test",
};

const live = () => ({ signal: new AbortController().signal });

let atomic: GcsServer;
let plain: GcsServer;
let supervisor: PluginSupervisor;
let n = 0;

/** The default module config against the emulator behind the precondition shim. */
function settings(overrides: JsonObject = {}): JsonObject {
  return { bucket: BUCKET, api_endpoint: atomic.endpoint, project_id: "demo-wfctl", ...overrides };
}

/**
 * A store configured with `config`, in a fresh namespace unless one is given.
 * Without `instance`, in a plugin process of its own, so a Configure that
 * fails leaves nothing behind for other tests.
 */
async function configured(config: JsonObject, options: { namespace?: string; instance?: string } = {}): Promise<ServedStateStore> {
  const namespace = options.namespace ?? `ns-${++n}`;
  const instance = await supervisor.acquire(supervisor.catalog.get("state_backend", "gcs"), options.instance ?? `gcs-${++n}`, async () => {});
  await instance.client(IaCStateBackendSetup).configure({ backend: "gcs", configJson: encodeJson(config), workingDir: tmpdir(), namespace });
  return servedStateStore({ backend: () => instance.client(IaCStateBackend), controller: () => instance.client(PluginController) });
}

async function namesUnder(endpoint: string, prefix: string): Promise<string[]> {
  const [files] = await new Storage({ apiEndpoint: endpoint, projectId: "demo-wfctl" }).bucket(BUCKET).getFiles({ prefix });
  return files.map((f) => f.name).sort();
}

beforeAll(async () => {
  [atomic, plain] = await Promise.all([startGcsServer({ conditionalWrites: true }), startGcsServer()]);
  supervisor = new PluginSupervisor(new PluginCatalog([spec]), quiet);
});

afterAll(async () => {
  await supervisor?.stopAll();
  await Promise.all([atomic?.stop(), plain?.stop()]);
});

describe("gcs state plugin", () => {
  describeStateBackendConformance("gcs (plugin over gRPC, Storage emulator with preconditions)", async () => {
    const instance = await supervisor.acquire(supervisor.catalog.get("state_backend", "gcs"), "conformance", async () => {});
    // Each Configure opens a fresh store (a new namespace) in the plugin.
    await instance.client(IaCStateBackendSetup).configure({ backend: "gcs", configJson: encodeJson(settings()), workingDir: tmpdir(), namespace: `ns-${++n}` });
    return servedStateStore({ backend: () => instance.client(IaCStateBackend), controller: () => instance.client(PluginController) });
  }, { timeoutMs: 180_000 });

  it("stores each record as one object under <prefix><namespace>/resources/ and each lock under locks/", async () => {
    const store = await configured(settings(), { namespace: "landing", instance: "layout" });
    await store.saveState(sampleState("web/a b"), live());
    await store.saveState(sampleState("db"), live());
    const lock = await store.lock("stack", { holder: "me", operation: "apply", version: "v" }, live());
    expect(await namesUnder(atomic.endpoint, "wfctl/landing/")).toEqual([
      "wfctl/landing/locks/stack.lock",
      "wfctl/landing/resources/db.json",
      "wfctl/landing/resources/web%2Fa%20b.json",
    ]);
    await store.unlock("stack", lock.lockId, live());
    await store.deleteState("db", live());
    await store.deleteState("db", live());
    expect(await namesUnder(atomic.endpoint, "wfctl/landing/")).toEqual(["wfctl/landing/resources/web%2Fa%20b.json"]);
    // The precondition probe of every Configure is removed again.
    expect(await namesUnder(atomic.endpoint, "wfctl/.wfctl-probe-")).toEqual([]);
  });

  it("uses the prefix setting, adding the trailing slash", async () => {
    const store = await configured(settings({ prefix: "team-a" }), { namespace: "prod", instance: "layout" });
    await store.saveState(sampleState("x"), live());
    expect(await namesUnder(atomic.endpoint, "team-a/")).toEqual(["team-a/prod/resources/x.json"]);
    expect(await store.listStates({}, live())).toHaveLength(1);
  });

  describe("configuration errors name the field", () => {
    it("an unknown key, a missing or malformed bucket, a bad endpoint", async () => {
      const unknown = await rejectionOf(configured(settings({ buckett: "typo" })));
      expect(unknown.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(unknown.message).toContain('unknown field "config.buckett"');
      expect(unknown.details.map((d) => d.field)).toContain("config.buckett");
      const missing = await rejectionOf(configured({ ...settings(), bucket: null }));
      expect(missing.message).toContain('"config.bucket" is required');
      const url = await rejectionOf(configured(settings({ bucket: "gs://wfctl-state" })));
      expect(url.message).toContain('"config.bucket" must be a bucket name');
      const endpoint = await rejectionOf(configured(settings({ api_endpoint: "localhost:9199" })));
      expect(endpoint.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(endpoint.message).toContain('"config.api_endpoint"');
    });

    it("a literal secret is refused, pointing at credentials_json_env, without echoing it", async () => {
      for (const key of ["credentials", "credentials_json", "private_key"]) {
        const err = await rejectionOf(configured(settings({ [key]: "hunter2" })));
        expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
        expect(err.message).toContain(`"config.${key}"`);
        expect(err.message).toContain("credentials_json_env");
        expect(err.message).not.toContain("hunter2");
      }
    });

    it("credentials_json_env naming an unset variable, or one that holds no key, without echoing the value", async () => {
      const unset = await rejectionOf(configured(settings({ credentials_json_env: "WFCTL_TEST_NOT_SET" })));
      expect(unset.message).toContain('"config.credentials_json_env" names the environment variable WFCTL_TEST_NOT_SET, which is not set');
      const bad = await rejectionOf(configured(settings({ credentials_json_env: "TEST_GCS_BAD_JSON" })));
      expect(bad.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(bad.message).toContain("TEST_GCS_BAD_JSON, which does not hold JSON");
      expect(bad.message).not.toContain("hunter2");
      const both = await rejectionOf(configured(settings({ credentials_json_env: "TEST_GCS_KEY", key_file: "key.json" })));
      expect(both.message).toContain('"config.key_file" cannot be combined with credentials_json_env');
    });
  });

  it("an unreachable endpoint fails Configure with STATE_BACKEND_UNAVAILABLE naming bucket and endpoint, not the key", async () => {
    const err = await rejectionOf(configured(settings({ api_endpoint: "http://127.0.0.1:1", credentials_json_env: "TEST_GCS_KEY" })));
    expect(err.code).toBe(ErrorCode.STATE_BACKEND_UNAVAILABLE);
    expect(err.message).toContain(`gcs bucket "${BUCKET}" at http://127.0.0.1:1`);
    expect(err.message).toContain("TEST_GCS_KEY");
    expect(err.message).not.toContain("hunter2");
  });

  describe("against the emulator as it is (preconditions ignored)", () => {
    it("by default, Configure is refused, saying why and what conditional_writes: false accepts", async () => {
      const err = await rejectionOf(configured(settings({ api_endpoint: plain.endpoint })));
      expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(err.message).toContain('"config.conditional_writes"');
      expect(err.message).toContain("does not honour preconditions");
      expect(err.message).toContain("ifGenerationMatch");
      expect(err.message).toContain("race window");
      expect(err.message).toContain(plain.endpoint);
      // The probe is removed even when Configure is refused.
      expect(await namesUnder(plain.endpoint, "wfctl/.wfctl-probe-")).toEqual([]);
    });

    for (const check of stateBackendChecks.filter((c) => /lock/i.test(c.name))) {
      it(`conformance (check-then-write locking, conditional_writes: false): ${check.name}`, () =>
        check.run(() => configured(settings({ api_endpoint: plain.endpoint, conditional_writes: false }), { instance: "fallback" })));
    }
  });
});
