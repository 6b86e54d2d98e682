import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { FilesystemStateStore } from "../../daemon/state/filesystem.js";
import { MemoryStateStore } from "../../daemon/state/memory.js";
import { sampleState, stateStoreContract } from "../helpers/store-contract.js";

const base = mkdtempSync(join(tmpdir(), "wft-fs-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

stateStoreContract("memory", async () => new MemoryStateStore());
stateStoreContract("filesystem", () => FilesystemStateStore.open(join(base, `s${n++}`, "default")));

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
