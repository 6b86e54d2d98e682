// What a held stack lock says, against a real memory store: a holder that is
// this very daemon with no operation holding the lock, a holder whose wfctld
// is gone, one still running, one on another host; read from the lock's
// host and pids (the holder text only for a record without them, never the
// message); the unlock command quotes what the shell would split. (A lock
// whose release this daemon is retrying: test/faults/locks.test.ts.)
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../proto/errors.js";
import { ROOT_CONTEXT } from "../../proto/telemetry.js";
import { parseInfraConfig } from "../../daemon/config/load.js";
import type { OperationContext } from "../../daemon/engine/context.js";
import { holderOf, holderText, lockRequestFor, unlockCommand } from "../../daemon/engine/lock-holder.js";
import { LockReleases } from "../../daemon/engine/lock-releases.js";
import type { RunningOperation } from "../../daemon/engine/operations.js";
import { type LockKeeper, type LockPlace, STACK_LOCK, takeStackLock } from "../../daemon/engine/stack-lock.js";
import { silentLogger } from "../../daemon/log.js";
import { MemoryStateStore } from "../../daemon/state/memory.js";
import type { LockRequest } from "../../proto/state-store.js";

const FILE = "/srv/my site/infra.yaml";
const TARGET = { configPath: FILE, env: "staging" };
const config = parseInfraConfig(FILE, "modules:\n  - name: state\n    type: iac.state\n    config: { backend: memory }\n    environments: { staging: {} }\n", "staging");
const caller = { user: `ci@${hostname()}`, pid: 4242, command: "wfctl infra apply" };

function context(): OperationContext {
  return {
    operationId: "op-1",
    operation: "apply",
    signal: new AbortController().signal,
    deadline: undefined,
    caller,
    environment: {},
    trace: ROOT_CONTEXT,
    log: silentLogger(),
    emit: () => {},
    stopped: () => {},
  };
}

function keeper(running?: RunningOperation): LockKeeper {
  return { releases: new LockReleases(silentLogger(), { background: false }), holderOf: () => running };
}

/** The LOCK_HELD message an operation gets when `holder` (a holder text, or a whole request) holds the lock; and that lock's id. */
async function heldBy(holder: string | LockRequest, k: LockKeeper = keeper()): Promise<{ message: string; lockId: string }> {
  const store = new MemoryStateStore();
  const request = typeof holder === "string" ? { holder, operation: "apply", version: "0.1.0" } : holder;
  const held = await store.lock(STACK_LOCK, request, { signal: new AbortController().signal });
  const place: LockPlace = { store, config, target: TARGET, reopen: async () => store };
  let message = "";
  try {
    await takeStackLock(place, caller, "apply", context(), k);
  } catch (err) {
    expect((err as { code: string }).code).toBe(ErrorCode.LOCK_HELD);
    message = (err as Error).message;
  }
  return { message, lockId: held.lockId };
}

const IF_IDLE = "If no wfctl command is still running against this state, release it with:";

describe("a held stack lock", () => {
  it("held by this very daemon with no operation holding it: stale, with the unlock command quoted for the shell", async () => {
    const { message, lockId } = await heldBy(holderText(caller));
    expect(message).toContain(`(lock id ${lockId}, wfctl 0.1.0); the holder looks stale: it is this wfctld (pid ${process.pid}), which runs no operation holding it. `);
    expect(message).toContain(`${IF_IDLE} wfctl infra state unlock ${lockId} -c '/srv/my site/infra.yaml' --env staging`);
  });

  it("held by an operation of this daemon that is running: who holds it, and nothing more", async () => {
    const running = { id: "op-0", operation: "apply" } as RunningOperation;
    const { message } = await heldBy(holderText(caller), keeper(running));
    expect(message).toMatch(/\(lock id [0-9a-f-]{36}, wfctl 0\.1\.0\)$/);
  });

  it("held by a wfctld of this host that is gone: stale, naming its pid", async () => {
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    const { message, lockId } = await heldBy(`ci@${hostname()} (pid 1, wfctld pid ${gone})`);
    expect(message).toContain(`; the holder looks stale: wfctld pid ${gone} on this host is no longer running. ${IF_IDLE} wfctl infra state unlock ${lockId} -c`);
  });

  it("held by a wfctld of this host that still runs: who holds it, and nothing more", async () => {
    const { message } = await heldBy(`ci@${hostname()} (pid 1, wfctld pid ${process.ppid})`);
    expect(message).not.toContain("stale");
    expect(message).not.toContain("unlock");
  });

  it("held from another host: the command, for when that holder is gone", async () => {
    const { message, lockId } = await heldBy("ci@runner-7.example (pid 1, wfctld pid 2)");
    expect(message).toContain(`; it was taken on host runner-7.example: if that command is no longer running there, release it with: wfctl infra state unlock ${lockId}`);
  });
});

describe("a held stack lock's holder, as data", () => {
  it("is read from the lock's host and pids, whatever its holder text says", async () => {
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    const here = { holder: "ci on the big runner", operation: "apply", version: "0.1.0", host: hostname(), pid: 1, daemonPid: gone };
    const { message, lockId } = await heldBy(here);
    expect(message).toContain(`; the holder looks stale: wfctld pid ${gone} on this host is no longer running. ${IF_IDLE} wfctl infra state unlock ${lockId} -c`);
    const elsewhere = await heldBy({ ...here, holder: `ci@${hostname()} (pid 1, wfctld pid ${gone})`, host: "runner-7.example" });
    expect(elsewhere.message).toContain("; it was taken on host runner-7.example: if that command is no longer running there");
  });

  it("is what this daemon records for a caller: the text for people, the host and pids as data", () => {
    const request = lockRequestFor({ user: "alice@build-1", pid: 12 }, "apply");
    expect(request).toEqual({ holder: `alice@build-1 (pid 12, wfctld pid ${process.pid})`, operation: "apply", version: expect.any(String), host: hostname(), pid: 12, daemonPid: process.pid });
  });

  it("falls back to the holder text only for a record without host and pids; another text names no holder", () => {
    const lock = { lockId: "5b0c", resourceId: STACK_LOCK, operation: "apply", createdAt: "2026-01-01T00:00:00Z", version: "0.1.0" };
    expect(holderOf({ ...lock, holder: holderText({ user: "alice@build-1", pid: 12 }) })).toEqual({ host: "build-1", clientPid: 12, daemonPid: process.pid });
    expect(holderOf({ ...lock, holder: "alice (wfctl infra state unlock)" })).toBeUndefined();
    expect(holderOf({ ...lock, holder: "anything at all", host: "h", pid: 3, daemonPid: 4 })).toEqual({ host: "h", clientPid: 3, daemonPid: 4 });
    // A record with pids but no host cannot be placed: its holder text is not consulted.
    expect(holderOf({ ...lock, holder: holderText({ user: "alice@build-1", pid: 12 }), pid: 12 })).toBeUndefined();
  });

  it("gives unlock commands a shell runs as written", () => {
    expect(unlockCommand({ configPath: "/a/infra.yaml", env: "" }, "5b0c")).toBe("wfctl infra state unlock 5b0c -c /a/infra.yaml");
    expect(unlockCommand({ configPath: "/a/it's.yaml", env: "pr 7" }, "--force")).toBe(`wfctl infra state unlock --force -c '/a/it'\\''s.yaml' --env 'pr 7'`);
  });
});
