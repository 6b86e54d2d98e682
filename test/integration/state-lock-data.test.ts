// The lock contract as data, against every store there is, each a real one:
// memory, files on disk, a real PostgreSQL, a backend served by a plugin over
// gRPC (the SDK's ListLocks and the LOCK_HELD trailer), and the s3, gcs and
// azure_blob plugins against their emulators. Every store records the host
// and pids it was given, raises LOCK_HELD with the lock held as `lock` (on
// contention, and on an unlock with another id), answers NOT_FOUND for an
// unlock, forced or not, when nothing is held, and lists its locks.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FilesystemStateStore } from "../../daemon/state/filesystem.js";
import { MemoryStateStore } from "../../daemon/state/memory.js";
import { PostgresStateStore, closePostgresPools, postgresSettings } from "../../daemon/state/postgres.js";
import { PluginCatalog, type PluginSpec } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { ErrorCode } from "../../proto/errors.js";
import { IaCStateBackend, IaCStateBackendSetup } from "../../proto/gen/wfctl/plugin/v1/state_pb.js";
import { type JsonObject, encodeJson } from "../../proto/json.js";
import { PluginStateStore } from "../../proto/plugin-state-store.js";
import type { LockRequest, StateStore } from "../../proto/state-store.js";
import { rejectionOf } from "../helpers/errors.js";
import { cloudPlugin } from "../helpers/paths.js";
import { fixture, quiet } from "../helpers/supervisors.js";
import { startAzurite } from "../servers/azurite.js";
import { startGcsServer } from "../servers/gcs.js";
import { createDatabase } from "../servers/postgres.js";
import { startS3Server } from "../servers/s3.js";

const live = () => ({ signal: new AbortController().signal });
let n = 0;

const ALICE: LockRequest = { holder: "alice@ci-1 (pid 41, wfctld pid 40)", operation: "apply", version: "0.1.0", host: "ci-1", pid: 41, daemonPid: 40 };
const BOB: LockRequest = { holder: "bob@ci-2", operation: "destroy", version: "0.1.0", host: "ci-2", pid: 7, daemonPid: 6 };

/** The lock contract checks, each against a fresh, empty store from `open`. */
function describeLockData(name: string, open: () => Promise<StateStore>): void {
  describe(name, () => {
    it("records every field it was given; contention is LOCK_HELD with the lock held as data", async () => {
      const store = await open();
      const lock = await store.lock("stack", ALICE, live());
      expect(lock).toMatchObject({ ...ALICE, resourceId: "stack" });
      const err = await rejectionOf(store.lock("stack", BOB, live()));
      expect(err.code).toBe(ErrorCode.LOCK_HELD);
      expect(err.lock).toEqual(lock);
      await store.unlock("stack", lock.lockId, live());
    });

    it("an unlock with another id is LOCK_HELD with the lock held; with none held, unlock and forced unlock are NOT_FOUND", async () => {
      const store = await open();
      const lock = await store.lock("stack", ALICE, live());
      const refused = await rejectionOf(store.unlock("stack", "not-the-id", live()));
      expect(refused.code).toBe(ErrorCode.LOCK_HELD);
      expect(refused.lock).toEqual(lock);
      await store.unlock("stack", "whatever", live(), { force: true });
      expect((await rejectionOf(store.unlock("stack", lock.lockId, live()))).code).toBe(ErrorCode.NOT_FOUND);
      expect((await rejectionOf(store.unlock("stack", "", live(), { force: true }))).code).toBe(ErrorCode.NOT_FOUND);
    });

    it("lists the locks held, each as it was taken; none once released", async () => {
      const store = await open();
      expect(await store.listLocks?.(live())).toEqual([]);
      const a = await store.lock("stack", ALICE, live());
      const b = await store.lock("other-lock β", BOB, live());
      const listed = await store.listLocks?.(live());
      expect([...(listed ?? [])].sort((x, y) => x.resourceId.localeCompare(y.resourceId))).toEqual([b, a]);
      await store.unlock("stack", a.lockId, live());
      await store.unlock("other-lock β", b.lockId, live());
      expect(await store.listLocks?.(live())).toEqual([]);
    });
  });
}

describeLockData("memory", async () => new MemoryStateStore());

describe("filesystem", () => {
  const base = mkdtempSync(join(tmpdir(), "wft-lockdata-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  describeLockData("filesystem", () => FilesystemStateStore.open(join(base, `s${n++}`, "default")));
});

describe("postgres", () => {
  let url = "";
  beforeAll(async () => {
    url = await createDatabase(inject("postgresUrl"), "wfctl_lock_data");
  });
  afterAll(() => closePostgresPools());
  describeLockData("postgres", () => PostgresStateStore.open(postgresSettings({ url }, "test", {}), `locks-${process.pid}-${n++}`, live()));
});

/** State-backend plugins, each configured for a fresh namespace per check. */
describe("plugins over gRPC", () => {
  const closers: (() => Promise<void>)[] = [];
  const settings: Record<string, JsonObject> = {};
  let supervisor: PluginSupervisor;
  const specs: PluginSpec[] = [
    fixture("memory-state", { kind: "state_backend", name: "fixture-memory" }),
    { name: "s3", kind: "state_backend", executable: process.execPath, args: [cloudPlugin("state-s3")], env: { K: "S3RVER" }, source: "test" },
    { name: "gcs", kind: "state_backend", executable: process.execPath, args: [cloudPlugin("state-gcs")], env: {}, source: "test" },
    { name: "azure_blob", kind: "state_backend", executable: process.execPath, args: [cloudPlugin("state-azure-blob")], env: {}, source: "test" },
  ];

  beforeAll(async () => {
    const [s3, gcs, azure] = await Promise.all([startS3Server(), startGcsServer({ conditionalWrites: true }), startAzurite()]);
    closers.push(() => s3.stop(), () => gcs.stop(), () => azure.stop());
    const sdk = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    await sdk.send(new CreateBucketCommand({ Bucket: "locks" }));
    sdk.destroy();
    await new BlobServiceClient(azure.accountUrl, new StorageSharedKeyCredential(azure.accountName, azure.accountKey)).getContainerClient("locks").create();
    const azureSpec = specs[3] as PluginSpec;
    azureSpec.env = { AZ_KEY: azure.accountKey };
    settings["fixture-memory"] = {};
    settings["s3"] = { bucket: "locks", endpoint: s3.endpoint, force_path_style: true, region: "us-east-1", access_key_id_env: "K", secret_access_key_env: "K", conditional_writes: false };
    settings["gcs"] = { bucket: "locks", api_endpoint: gcs.endpoint, project_id: "demo-wfctl" };
    settings["azure_blob"] = { container: "locks", account_url: azure.accountUrl, account_name: azure.accountName, account_key_env: "AZ_KEY" };
    supervisor = new PluginSupervisor(new PluginCatalog(specs), quiet);
  }, 120_000);
  afterAll(async () => {
    await supervisor?.stopAll();
    await Promise.all(closers.map((close) => close()));
  });

  const served = (plugin: string, backend: string) => async () => {
    const instance = await supervisor.acquire(supervisor.catalog.get("state_backend", plugin), "lock-data", async () => {});
    await instance.client(IaCStateBackendSetup).configure({ backend, configJson: encodeJson(settings[backend] ?? {}), workingDir: tmpdir(), namespace: `ns-${++n}` });
    return new PluginStateStore(() => instance.client(IaCStateBackend));
  };
  describeLockData("the SDK over gRPC (fixture-memory)", served("fixture-memory", "fixture-memory"));
  describeLockData("s3 (s3rver, check-then-write locks)", served("s3", "s3"));
  describeLockData("gcs (emulator with preconditions)", served("gcs", "gcs"));
  describeLockData("azure_blob (azurite)", served("azure_blob", "azure_blob"));
});
