// The azure provider as wfctl runs it: the plugin as a real process over gRPC,
// against Azurite (the Azure Storage emulator, started here), checked from
// the storage service itself with the SDK. The conformance kit for
// azure.container, then what the kit does not cover: public access and
// metadata changed in place (stored access policies kept), force_destroy,
// drift made behind the provider's back, and the provider's settings.
import { tmpdir } from "node:os";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginCatalog, type PluginSpec } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { type ProviderSession, type ProviderUnderTest, type ResourceFixture, ResourceUnderTest, openProviderSession } from "../../plugins/conformance/provider.js";
import { describeProviderConformance } from "../../plugins/conformance/vitest.js";
import { ErrorCode } from "../../proto/errors.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { Action, DriftClass, IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, decodeJsonValue, encodeJson } from "../../proto/json.js";
import { rejectionOf } from "../helpers/errors.js";
import { cloudPlugin } from "../helpers/paths.js";
import { quiet } from "../helpers/supervisors.js";
import { AZURITE_KEY, type AzuriteServer, startAzurite } from "../servers/azurite.js";

const BIN = cloudPlugin("provider-azure");
const TYPE = "azure.container";
/** The plugin's environment variable holding the account key, named by account_key_env. */
const KEY_VAR = "WFT_AZURE_KEY";
/** A well-formed key that is not the account's. */
const WRONG_KEY = Buffer.from("not the devstoreaccount1 key, but 64 bytes long like a real one!").toString("base64");
const SECRET_SIG = "TOPSECRETSIG";

let starting: Promise<AzuriteServer> | undefined;
/** Azurite, started by the first suite that needs it. */
const azurite = () => (starting ??= startAzurite());
afterAll(async () => {
  if (starting) await (await starting).stop();
});

/** The storage service, reached directly (not through the plugin). */
async function storage(): Promise<BlobServiceClient> {
  const server = await azurite();
  return new BlobServiceClient(server.accountUrl, new StorageSharedKeyCredential(server.accountName, server.accountKey));
}

function spec(env: Record<string, string> = {}): PluginSpec {
  return { name: "azure", kind: "provider", executable: process.execPath, args: [BIN], env: { [KEY_VAR]: AZURITE_KEY, ...env }, source: "test" };
}

/** The provider settings the tests use: the dev account, its key from KEY_VAR. */
async function settings(extra: JsonObject = {}): Promise<JsonObject> {
  const server = await azurite();
  return { account_url: server.accountUrl, account_name: server.accountName, account_key_env: KEY_VAR, ...extra };
}

const supervisors: PluginSupervisor[] = [];
afterAll(() => Promise.all(supervisors.map((s) => s.stopAll())));

/** A new plugin process, not configured yet. */
async function plugin(env: Record<string, string> = {}): Promise<PluginInstance> {
  const s = new PluginSupervisor(new PluginCatalog([spec(env)]), quiet);
  supervisors.push(s);
  return s.acquire(s.catalog.get("provider", "azure"), "test", async () => {});
}

/** The plugin as the conformance kit reaches it (configured by openProviderSession). */
async function underTest(config?: JsonObject, env: Record<string, string> = {}): Promise<ProviderUnderTest> {
  const instance = await plugin(env);
  return {
    provider: instance.client(IaCProvider),
    driftDetector: instance.serves(IaCDriftDetector) ? instance.client(IaCDriftDetector) : undefined,
    controller: instance.client(PluginController),
    config: config ?? (await settings()),
    workingDir: tmpdir(),
  };
}

const containerFixture: ResourceFixture = {
  name: "conf-container",
  create: (name) => ({ name, metadata: { team: "infra" } }),
  update: (name) => ({ name, public_access: "blob", metadata: { team: "infra", Tier: "gold" }, force_destroy: true }),
  replace: (name) => ({ name: `${name}-moved`, public_access: "blob", metadata: { team: "infra", Tier: "gold" }, force_destroy: true }),
  outOfBandDelete: async ({ config, signal }) => {
    await (await storage()).getContainerClient(String(config["name"])).delete({ abortSignal: signal });
  },
  outOfBandChange: async ({ config, signal }) => {
    const actual = { team: "ops" };
    await (await storage()).getContainerClient(String(config["name"])).setMetadata(actual, { abortSignal: signal });
    return { field: "metadata", actual };
  },
};

describeProviderConformance("azure (plugin over gRPC, Azurite)", {
  resources: { [TYPE]: containerFixture },
  connect: () => underTest(),
});

describe("after the provider conformance kit", () => {
  it("no container of the kit is left: every check deleted what it created", async () => {
    const left: string[] = [];
    for await (const container of (await storage()).listContainers({ prefix: containerFixture.name })) left.push(container.name);
    expect(left).toEqual([]);
  });
});

describe("azure.container", () => {
  let session: ProviderSession;
  beforeAll(async () => {
    session = await openProviderSession(await underTest());
  });
  /** A resource of this run, whose container is named like the resource. */
  const resource = (what: string) => new ResourceUnderTest(session, TYPE, containerFixture, `${what}-${session.runId}`);
  const container = async (name: string) => (await storage()).getContainerClient(name);
  const lowerKeys = (m: Record<string, string> | undefined) => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k.toLowerCase(), v]));

  it("public_access and metadata change in place and read back; stored access policies are kept", async () => {
    const r = resource("inplace");
    const created = await r.create({ name: r.name });
    expect(created.providerId).toBe(`${(await azurite()).accountUrl}/${r.name}`);
    expect(created.outputs).toMatchObject({ name: r.name, url: created.providerId });
    const direct = await container(r.name);
    const policy = { id: "keep-me", accessPolicy: { permissions: "r", startsOn: new Date("2030-01-01T00:00:00Z"), expiresOn: new Date("2031-01-01T00:00:00Z") } };
    await direct.setAccessPolicy(undefined, [policy]);

    const desired = { name: r.name, public_access: "container", metadata: { Team: "infra", cost_centre: "42" } };
    const plan = await r.planCall(desired, r.recorded);
    expect(plan.action).toBe(Action.UPDATE);
    expect(plan.changes.map((c) => [c.field, c.forcesReplace])).toEqual([["metadata", false], ["public_access", false]]);
    const updated = await r.update(desired);
    expect(updated.providerId).toBe(created.providerId);
    expect(updated.outputs["etag"]).not.toBe(created.outputs["etag"]);

    const props = await direct.getProperties();
    expect(props.blobPublicAccess).toBe("container");
    expect(lowerKeys(props.metadata)).toEqual({ team: "infra", cost_centre: "42" });
    expect((await direct.getAccessPolicy()).signedIdentifiers.map((s) => s.id)).toEqual(["keep-me"]);
    // Read gives the names as configured ("Team"), so nothing drifts.
    const read = await r.expectFound("Read after the update");
    expect(read.config).toMatchObject({ public_access: "container", metadata: { Team: "infra", cost_centre: "42" } });
    expect((await r.planCall(desired, read)).action).toBe(Action.NOOP);

    await r.update({ name: r.name, public_access: "blob", metadata: {} });
    const after = await direct.getProperties();
    expect(after.blobPublicAccess).toBe("blob");
    expect(after.metadata).toEqual({});
    await r.update({ name: r.name });
    expect((await direct.getProperties()).blobPublicAccess).toBeUndefined();
    expect((await direct.getAccessPolicy()).signedIdentifiers.map((s) => s.id)).toEqual(["keep-me"]);
    await r.expectFound("Read after making it private again");
    await r.cleanup();
  });

  it("force_destroy false refuses to delete a container holding blobs, naming it; true deletes it with its blobs", async () => {
    const r = resource("nonempty");
    await r.create({ name: r.name });
    const direct = await container(r.name);
    await direct.getBlockBlobClient("reports/q1.csv").upload("a,b\n", 4);

    const refused = await rejectionOf(r.applyCall(Action.DELETE, undefined, r.recorded));
    expect(refused.code).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(refused.message).toContain(`container "${r.name}"`);
    expect(refused.message).toContain("reports/q1.csv");
    expect(refused.message).toContain("force_destroy: true");
    expect(await direct.exists()).toBe(true);

    const plan = await r.planCall({ name: r.name, force_destroy: true }, r.recorded);
    expect(plan.changes.map((c) => c.field)).toEqual(["force_destroy"]);
    await r.update({ name: r.name, force_destroy: true });
    await r.delete("Apply DELETE with force_destroy: true");
    expect(await direct.exists()).toBe(false);
  });

  it("metadata or public access changed behind the provider's back is config drift on that field; an update puts it back", async () => {
    const r = resource("drift");
    await r.create({ name: r.name, metadata: { team: "infra" } });
    const direct = await container(r.name);
    await direct.setMetadata({ team: "web", owner: "someone" });

    const drift = async () => {
      const detector = session.under.driftDetector;
      if (!detector) throw new Error("the azure provider must serve IaCDriftDetector");
      const { result } = await detector.detectDrift({ resource: { name: r.name, type: TYPE }, prior: priorOf(r) });
      const fields = Object.fromEntries((result?.fields ?? []).map((f) => [f.field, decodeJsonValue(f.actualJson, "actual")]));
      return { class: result?.class, fields };
    };
    expect(await drift()).toEqual({ class: DriftClass.CONFIG, fields: { metadata: { team: "web", owner: "someone" } } });
    await direct.setAccessPolicy("blob");
    expect(await drift()).toEqual({ class: DriftClass.CONFIG, fields: { metadata: { team: "web", owner: "someone" }, public_access: "blob" } });

    await r.update({ name: r.name, metadata: { team: "infra" } });
    expect(lowerKeys((await direct.getProperties()).metadata)).toEqual({ team: "infra" });
    expect((await drift()).class).toBe(DriftClass.IN_SYNC);
    await r.cleanup();
  });

  it("configurations Azure would refuse fail at plan with CONFIG_INVALID naming the field", async () => {
    const r = resource("invalid");
    const cases: [JsonObject, string][] = [
      [{ name: "Bad_Name" }, "name"],
      [{ name: "ab" }, "name"],
      [{ name: "double--hyphen" }, "name"],
      [{ name: "fine", public_access: "private" }, "public_access"],
      [{ name: "fine", metadata: { "1st": "x" } }, "metadata.1st"],
      [{ name: "fine", metadata: { "has-dash": "x" } }, "metadata.has-dash"],
      [{ name: "fine", metadata: { team: "a", TEAM: "b" } }, "metadata.TEAM"],
      [{ name: "fine", metadata: { team: " padded" } }, "metadata.team"],
      [{ name: "fine", metadata: { team: "" } }, "metadata.team"],
      [{ name: "fine", metadata: { team: "naïve" } }, "metadata.team"],
      [{ name: "fine", metadata: { team: 7 } }, "metadata.team"],
      [{ name: "fine", metadata: { big: "x".repeat(9000) } }, "metadata"],
    ];
    for (const [config, field] of cases) {
      const err = await rejectionOf(r.planCall(config, undefined));
      expect(err.code, `${JSON.stringify(config)}: ${err.message}`).toBe(ErrorCode.CONFIG_INVALID);
      expect(err.message).toContain(`field "${field}"`);
      expect(err.message).toContain(`${r.name} (${TYPE})`);
      expect(err.details.map((d) => d.field)).toContain(field);
    }
  });

  it("creating a container that already exists is ALREADY_EXISTS naming it, and leaves it alone", async () => {
    const r = resource("taken");
    const direct = await container(r.name);
    await direct.create({ metadata: { owner: "someone-else" } });
    const err = await rejectionOf(r.applyCall(Action.CREATE, { name: r.name }, undefined));
    expect(err.code).toBe(ErrorCode.ALREADY_EXISTS);
    expect(err.message).toContain(`container "${r.name}"`);
    expect((await direct.getProperties()).metadata).toEqual({ owner: "someone-else" });
    await direct.delete();
  });

  it("a container recorded in another account is refused, never read as a ghost (which the daemon would prune)", async () => {
    const r = resource("elsewhere");
    const prior = { providerId: `https://otheraccount.blob.core.windows.net/${r.name}`, config: { name: r.name }, outputs: {} };
    for (const call of [r.readCall(prior), r.applyCall(Action.DELETE, undefined, prior)]) {
      const err = await rejectionOf(call);
      expect(err.code).toBe(ErrorCode.FAILED_PRECONDITION);
      expect(err.message).toContain("otheraccount");
    }
  });
});

/** The prior state of `r` as the daemon sends it. */
function priorOf(r: ResourceUnderTest) {
  const recorded = r.recorded;
  if (!recorded) throw new Error(`${r.who}: nothing is recorded`);
  return { providerId: recorded.providerId, configJson: encodeJson(recorded.config), outputsJson: encodeJson(recorded.outputs) };
}

describe("azure provider settings", () => {
  it("refuses bad settings with CONFIG_INVALID naming config.<field>, and literal secrets without echoing them", async () => {
    const server = await azurite();
    const instance = await plugin({ WFT_NOT_BASE64: "not a key!" });
    const configure = (config: JsonObject) => instance.client(IaCProvider).configure({ configJson: encodeJson(config), workingDir: tmpdir() });
    const cases: [JsonObject, string, string][] = [
      [await settings({ account_key: AZURITE_KEY }), "config.account_key", "account_key_env"],
      [await settings({ sas_token: `sv=2020&sig=${SECRET_SIG}` }), "config.sas_token", "sas_token_env"],
      [{ connection_string: server.connectionString }, "config.connection_string", "connection_string_env"],
      [await settings({ account_url: `${server.accountUrl}?sv=2020&sig=${SECRET_SIG}` }), "config.account_url", "*_env"],
      [await settings({ account_key_env: "WFT_UNSET_VARIABLE" }), "config.account_key_env", "WFT_UNSET_VARIABLE"],
      [await settings({ account_key_env: "WFT_NOT_BASE64" }), "config.account_key_env", "base64"],
      [{ account_url: server.accountUrl, account_key_env: KEY_VAR }, "config.account_name", "account_key_env"],
      [await settings({ account_name: "Not_An_Account" }), "config.account_name", "storage account name"],
      [await settings({ sas_token_env: "WFT_SAS" }), "config.sas_token_env", "cannot be combined"],
      [await settings({ connection_string_env: "WFT_CONNECTION" }), "config.account_url", "cannot be combined"],
      [{}, "config.account_url", "connection_string_env"],
    ];
    for (const [config, field, text] of cases) {
      const err = await rejectionOf(configure(config));
      expect(err.code, err.message).toBe(ErrorCode.CONFIG_INVALID);
      expect(err.message).toContain(`"${field}"`);
      expect(err.message).toContain(text);
      expect(err.message).toContain(`azure provider: field "${field}"`);
      expect(err.details.map((d) => d.field)).toContain(field);
      expect(err.message).not.toContain(AZURITE_KEY);
      expect(err.message).not.toContain(SECRET_SIG);
      expect(err.message).not.toContain("not a key!");
    }
    // Fields the schema does not know are refused by the SDK, before the settings are read.
    const unknown = await rejectionOf(configure(await settings({ colour: "red" })));
    expect(unknown.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(unknown.details.map((d) => d.field)).toContain("colour");
  });

  it("a wrong account key fails Configure with PERMISSION_DENIED naming the account, never the key", async () => {
    const instance = await plugin({ [KEY_VAR]: WRONG_KEY });
    const err = await rejectionOf(instance.client(IaCProvider).configure({ configJson: encodeJson(await settings()), workingDir: tmpdir() }));
    expect(err.code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(err.message).toContain((await azurite()).accountUrl);
    expect(err.message).not.toContain(WRONG_KEY);
    expect(err.message).not.toContain(AZURITE_KEY);
  });

  it("an unreachable endpoint fails Configure naming it", async () => {
    const instance = await plugin();
    const err = await rejectionOf(instance.client(IaCProvider).configure({ configJson: encodeJson(await settings({ account_url: "http://127.0.0.1:1/devstoreaccount1" })), workingDir: tmpdir() }));
    expect(err.code).toBe(ErrorCode.PROVIDER_ERROR);
    expect(err.message).toContain("cannot reach the storage account");
    expect(err.message).toContain("http://127.0.0.1:1/devstoreaccount1");
  }, 60_000);

  it("takes the account and its key from a connection string named by connection_string_env", async () => {
    const server = await azurite();
    const session = await openProviderSession(await underTest({ connection_string_env: "WFT_CONNECTION" }, { WFT_CONNECTION: server.connectionString }));
    const r = new ResourceUnderTest(session, TYPE, containerFixture, `connstr-${session.runId}`);
    const created = await r.create({ name: r.name, metadata: { via: "connection_string" } });
    expect(created.providerId).toBe(`${server.accountUrl}/${r.name}`);
    expect((await (await storage()).getContainerClient(r.name).getProperties()).metadata).toEqual({ via: "connection_string" });
    await r.cleanup();
  });
});
