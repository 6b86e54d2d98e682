// The azure_blob state backend plugin against Azurite (the Azure Storage
// emulator, started here): the conformance kit over gRPC, locks as infinite
// blob leases (visible with the SDK, outliving a holder that died, released
// by hand or by force), the blob layout, and its configuration errors.
import { tmpdir } from "node:os";
import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PluginCatalog, type PluginSpec } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { sampleState } from "../../plugins/conformance/state-backend.js";
import { servedStateStore } from "../../plugins/conformance/served-store.js";
import { describeStateBackendConformance } from "../../plugins/conformance/vitest.js";
import { ErrorCode } from "../../proto/errors.js";
import { type JsonObject, encodeJson } from "../../proto/json.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import type { StateStore } from "../../proto/state-store.js";
import { rejectionOf } from "../helpers/errors.js";
import { cloudPlugin } from "../helpers/paths.js";
import { quiet, supervisorsStoppedAfterEach } from "../helpers/supervisors.js";
import { type AzuriteServer, startAzurite } from "../servers/azurite.js";

const BIN = cloudPlugin("state-azure-blob");
const CONTAINER = "wfctl-state";
/** A well-formed key that is not the account's. */
const WRONG_KEY = Buffer.from("not the devstoreaccount1 key, but 64 bytes long like a real one!").toString("base64");

let server: AzuriteServer;
let container: ContainerClient;
let n = 0;
const live = () => ({ signal: new AbortController().signal });

function spec(env: Record<string, string> = {}): PluginSpec {
  return { name: "azure_blob", kind: "state_backend", executable: process.execPath, args: [BIN], env: { TEST_AZURE_KEY: server.accountKey, ...env }, source: "test" };
}

/** The module config the tests use: the dev account, its key from TEST_AZURE_KEY. */
function settings(extra: JsonObject = {}): JsonObject {
  return { container: CONTAINER, account_url: server.accountUrl, account_name: server.accountName, account_key_env: "TEST_AZURE_KEY", ...extra };
}

/** Configures the plugin instance of `s` for `namespace`; a store over gRPC. */
async function openStore(s: PluginSupervisor, namespace: string, config: JsonObject = settings()): Promise<StateStore> {
  const instance = await s.acquire(s.catalog.get("state_backend", "azure_blob"), "test", async () => {});
  await instance.client(IaCStateBackendSetup).configure({ backend: "azure_blob", configJson: encodeJson(config), workingDir: tmpdir(), namespace });
  return servedStateStore({ backend: () => instance.client(IaCStateBackend), controller: () => instance.client(PluginController) });
}

beforeAll(async () => {
  server = await startAzurite();
  const service = new BlobServiceClient(server.accountUrl, new StorageSharedKeyCredential(server.accountName, server.accountKey));
  container = service.getContainerClient(CONTAINER);
  await container.create();
});
afterAll(() => server?.stop());

describe("azure_blob conformance", () => {
  let s: PluginSupervisor;
  beforeAll(() => {
    s = new PluginSupervisor(new PluginCatalog([spec()]), quiet);
  });
  afterAll(() => s.stopAll());
  // Each check configures a fresh namespace: an empty store in the same container.
  // Azurite answers a few hundred requests a second: room for the 2,500-record check on a slow or busy machine.
  describeStateBackendConformance("azure_blob (plugin over gRPC, Azurite)", () => openStore(s, `conformance-${++n}`), { timeoutMs: 180_000 });
});

describe("azure_blob locks and layout", () => {
  const supervisor = supervisorsStoppedAfterEach();

  it("stores records under <prefix><namespace>/resources/ and ids of any shape round-trip", async () => {
    const s = supervisor([spec()]);
    const ns = `layout-${++n}`;
    const store = await openStore(s, ns, settings({ prefix: "teams/infra/" }));
    const ids = ["web/api", "a b%c", "naïve ✓", "..", "x?y#z&w=1"];
    for (const id of ids) await store.saveState(sampleState(id), live());
    for (const id of ids) expect((await store.getState(id, live()))?.resourceId).toBe(id);
    expect((await store.listStates({}, live())).map((r) => r.resourceId).sort()).toEqual([...ids].sort());
    const names: string[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: `teams/infra/${ns}/` })) names.push(blob.name);
    expect(names).toContain(`teams/infra/${ns}/resources/web%2Fapi.json`);
    expect(names.every((name) => name.startsWith(`teams/infra/${ns}/resources/`) && name.endsWith(".json"))).toBe(true);
  });

  it("a lock is an infinite lease on its blob, whose body names the holder; unlocking frees it for the next", async () => {
    const s = supervisor([spec()]);
    const ns = `lease-${++n}`;
    const store = await openStore(s, ns);
    const lock = await store.lock("stack", { holder: "alice@ci (pid 7)", operation: "apply", version: "0.1.0" }, live());
    const blob = container.getBlobClient(`wfctl/${ns}/locks/stack.lock`);
    const props = await blob.getProperties();
    expect(props.leaseState).toBe("leased");
    expect(props.leaseDuration).toBe("infinite");
    const body = JSON.parse((await blob.downloadToBuffer()).toString("utf8")) as unknown;
    expect(body).toEqual(lock);
    // The lease really is the lock: it cannot be taken from outside either.
    await expect(blob.getBlobLeaseClient().acquireLease(-1)).rejects.toMatchObject({ statusCode: 409 });

    await store.unlock("stack", lock.lockId, live());
    expect(await blob.exists()).toBe(false);
    const next = await store.lock("stack", { holder: "bob@ci (pid 8)", operation: "destroy", version: "0.1.0" }, live());
    expect(JSON.parse((await blob.downloadToBuffer()).toString("utf8"))).toMatchObject({ holder: "bob@ci (pid 8)", lockId: next.lockId });
  });

  it("a lock blob left unleased (a holder that died between creating and leasing it) is taken and rewritten", async () => {
    const s = supervisor([spec()]);
    const ns = `stale-${++n}`;
    const stale = JSON.stringify({ lockId: "00000000-0000-4000-8000-000000000000", resourceId: "stack", holder: "ghost", operation: "apply", createdAt: "2020-01-01T00:00:00Z", version: "0" });
    await container.getBlockBlobClient(`wfctl/${ns}/locks/stack.lock`).upload(stale, stale.length);
    const store = await openStore(s, ns);
    const err = await rejectionOf(store.unlock("stack", "00000000-0000-4000-8000-000000000000", live()));
    expect(err.code).toBe(ErrorCode.NOT_FOUND);
    const lock = await store.lock("stack", { holder: "carol", operation: "apply", version: "v" }, live());
    const held = await rejectionOf(store.lock("stack", { holder: "dave", operation: "apply", version: "v" }, live()));
    expect(held.code).toBe(ErrorCode.LOCK_HELD);
    expect(held.message).toContain("carol");
    expect(held.message).toContain(lock.lockId);
  });

  it("a lock outlives a holder that died: still held for the next plugin, released by its id or by force", async () => {
    const ns = `dead-${++n}`;
    const first = supervisor([spec()]);
    const dead = await openStore(first, ns);
    const lock = await dead.lock("stack", { holder: "ci@runner-7 (pid 4121)", operation: "apply", version: "0.1.0" }, live());
    const other = await dead.lock("other", { holder: "ci@runner-7 (pid 4121)", operation: "apply", version: "0.1.0" }, live());
    const instance = await first.acquire(first.catalog.get("state_backend", "azure_blob"), "test", async () => {});
    if (instance.pid) process.kill(instance.pid, "SIGKILL");
    await first.stopAll();

    const store = await openStore(supervisor([spec()]), ns);
    const held = await rejectionOf(store.lock("stack", { holder: "bob", operation: "apply", version: "0.1.0" }, live()));
    expect(held.code).toBe(ErrorCode.LOCK_HELD);
    expect(held.message).toContain("ci@runner-7 (pid 4121)");
    expect(held.message).toContain(`lock id ${lock.lockId}`);
    expect((await container.getBlobClient(`wfctl/${ns}/locks/stack.lock`).getProperties()).leaseState).toBe("leased");

    const refused = await rejectionOf(store.unlock("stack", "11111111-2222-4333-8444-555555555555", live()));
    expect(refused.code).toBe(ErrorCode.LOCK_HELD);
    expect(refused.message).toContain(`cannot unlock "stack" as 11111111-2222-4333-8444-555555555555: it is held by ci@runner-7 (pid 4121) as ${lock.lockId}`);
    // What `wfctl infra state unlock LOCK_ID` does: release the dead holder's lock by its id.
    await store.unlock("stack", lock.lockId, live());
    const mine = await store.lock("stack", { holder: "bob", operation: "apply", version: "0.1.0" }, live());
    await store.unlock("stack", mine.lockId, live());
    // And by force, whoever holds it.
    await store.unlock("other", "whatever", live(), { force: true });
    expect((await rejectionOf(store.unlock("other", other.lockId, live()))).code).toBe(ErrorCode.NOT_FOUND);
    const again = await store.lock("other", { holder: "bob", operation: "apply", version: "0.1.0" }, live());
    await store.unlock("other", again.lockId, live());
  });
});

describe("azure_blob configuration", () => {
  const supervisor = supervisorsStoppedAfterEach();

  it("refuses unknown fields and literal secrets, naming the field", async () => {
    const s = supervisor([spec()]);
    const cases: [JsonObject, string, string][] = [
      [settings({ colour: "red" }), 'unknown field "config.colour"', "config.colour"],
      [settings({ account_key: server.accountKey }), '"config.account_key"', "config.account_key"],
      [settings({ sas_token: "sv=2020&sig=TOPSECRETSIG" }), '"config.sas_token"', "config.sas_token"],
      [{ account_url: server.accountUrl }, '"config.container"', "config.container"],
      [settings({ container: "Not_A_Container" }), '"config.container"', "config.container"],
      [settings({ account_key_env: "WFCTL_TEST_UNSET_VARIABLE" }), "WFCTL_TEST_UNSET_VARIABLE", "config.account_key_env"],
      [settings({ account_url: `${server.accountUrl}?sv=2020&sig=TOPSECRETSIG` }), '"config.account_url"', "config.account_url"],
      [settings({ create_container: "yes" }), '"config.create_container"', "config.create_container"],
    ];
    for (const [config, text, field] of cases) {
      const err = await rejectionOf(openStore(s, "config", config));
      expect(err.code, err.message).toBe(ErrorCode.CONFIG_INVALID);
      expect(err.message).toContain(text);
      expect(err.details.map((d) => d.field)).toContain(field);
      expect(err.message).not.toContain(server.accountKey);
      expect(err.message).not.toContain("TOPSECRETSIG");
    }
    const literal = await rejectionOf(openStore(s, "config", settings({ account_key: server.accountKey })));
    expect(literal.message).toContain("account_key_env");
  });

  it("a wrong account key fails Configure with STATE_BACKEND_UNAVAILABLE naming the account and container, never the key", async () => {
    const s = supervisor([spec({ TEST_AZURE_KEY: WRONG_KEY })]);
    const err = await rejectionOf(openStore(s, "wrong-key"));
    expect(err.code).toBe(ErrorCode.STATE_BACKEND_UNAVAILABLE);
    expect(err.message).toContain(server.accountUrl);
    expect(err.message).toContain(CONTAINER);
    expect(err.message).not.toContain(WRONG_KEY);
    expect(err.message).not.toContain(server.accountKey);
  });

  it("an unreachable endpoint fails Configure with STATE_BACKEND_UNAVAILABLE", async () => {
    const s = supervisor([spec()]);
    const err = await rejectionOf(openStore(s, "unreachable", settings({ account_url: "http://127.0.0.1:1/devstoreaccount1" })));
    expect(err.code).toBe(ErrorCode.STATE_BACKEND_UNAVAILABLE);
    expect(err.message).toContain("http://127.0.0.1:1/devstoreaccount1");
  });

  it("a missing container is an error naming it, unless create_container is set", async () => {
    const s = supervisor([spec()]);
    const name = `missing-${process.pid}-${++n}`;
    const err = await rejectionOf(openStore(s, "missing", settings({ container: name })));
    expect(err.code).toBe(ErrorCode.STATE_BACKEND_UNAVAILABLE);
    expect(err.message).toContain(`container "${name}" does not exist`);
    expect(err.message).toContain("create_container");
    const store = await openStore(s, "missing", settings({ container: name, create_container: true }));
    await store.saveState(sampleState("a"), live());
    expect((await store.getState("a", live()))?.resourceId).toBe("a");
  });

  it("takes the account and key from a connection string named by connection_string_env", async () => {
    const s = supervisor([spec({ TEST_AZURE_CONNECTION: server.connectionString })]);
    const ns = `connstr-${++n}`;
    const store = await openStore(s, ns, { container: CONTAINER, connection_string_env: "TEST_AZURE_CONNECTION" });
    await store.saveState(sampleState("a"), live());
    expect(await container.getBlobClient(`wfctl/${ns}/resources/a.json`).exists()).toBe(true);
    const err = await rejectionOf(openStore(s, ns, { container: CONTAINER, connection_string_env: "TEST_AZURE_CONNECTION", account_url: server.accountUrl }));
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toContain('"config.account_url"');
  });
});
