// Who gets in, from the client's side (issue 17, item 1 and acceptance check
// 1): wfctl talks only to a socket of its user's own, in a directory only that
// user can enter. Another user's fallback directory with a listener in it, a
// group-writable directory of one's own, a symlinked directory and another
// user's socket file are each refused before a byte is sent (a recording
// listener proves it), naming the path and its owner; the daemon refuses the
// same directories.
import { chmodSync, chownSync, lchownSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeUid } from "../../proto/private-files.js";
import { type CliResult, expectExit, runWfctl } from "../helpers/cli.js";
import { QUICKSTART, tempDir } from "../helpers/paths.js";
import { processesMatching } from "../helpers/processes.js";
import { NOBODY, requireAnotherUser, recordedBefore, recordingListener } from "../helpers/users.js";
import { wfctldUntilExit } from "../helpers/wfctld.js";

const ME = process.getuid?.() ?? 0;
const CONFIG = join(QUICKSTART, "infra.yaml");

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh temporary directory that other users may pass through (but not list or write). */
function base(): string {
  const temp = tempDir("wft-sec-");
  cleanups.push(temp.cleanup);
  chmodSync(temp.path, 0o711);
  return temp.path;
}

async function listener(socket: string, user?: { uid: number; gid: number }) {
  const l = await recordingListener(socket, user);
  cleanups.push(l.stop);
  return l;
}

/** Runs wfctl with no runtime directory of the session, no WFCTL_SOCKET, and `env`. */
function wfctl(args: readonly string[], env: Record<string, string | undefined>): Promise<CliResult> {
  return runWfctl(args, { env: { XDG_RUNTIME_DIR: undefined, WFCTL_SOCKET: undefined, ...env } });
}

/** The refusal of a command: exit 1, SOCKET_UNTRUSTED in --json, the message on stderr. */
function expectRefused(result: CliResult, ...phrases: string[]): void {
  expectExit(result, 1);
  for (const phrase of phrases) expect(result.stderr).toContain(phrase);
}

describe("the client trusts only its own daemon", () => {
  it(
    "with no XDG_RUNTIME_DIR, a /tmp/wfctl-<uid> made by another user (0777, listening) is refused by every command before anything is sent",
    async () => {
    requireAnotherUser();
      // TMPDIR moves the fallback (<tmpdir>/wfctl-<uid>) into a directory of the test's own.
      const tmp = base();
      const fallback = join(tmp, `wfctl-${ME}`);
      mkdirSync(fallback);
      chownSync(fallback, NOBODY.uid, NOBODY.gid);
      chmodSync(fallback, 0o777);
      const socket = join(fallback, "wfctld.sock");
      const spy = await listener(socket, NOBODY);
      const owner = describeUid(NOBODY.uid);

      const plan = await wfctl(["infra", "plan", "-c", CONFIG], { TMPDIR: tmp });
      expectRefused(plan, `refusing the daemon's socket directory ${fallback}: it belongs to ${owner}`, "Another user may be listening there", "XDG_RUNTIME_DIR", "--socket");
      const json = await wfctl(["infra", "plan", "-c", CONFIG, "--json"], { TMPDIR: tmp });
      expectExit(json, 1);
      expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: "SOCKET_UNTRUSTED" } });
      for (const command of [["daemon", "status"], ["daemon", "stop"], ["daemon", "start"], ["infra", "apply", "-c", CONFIG, "--auto-approve"], ["plugins", "list"]]) {
        expectRefused(await wfctl(command, { TMPDIR: tmp }), `refusing the daemon's socket directory ${fallback}`, owner);
      }

      // Nothing reached the listener, no daemon was started, nothing was written there.
      expect(await recordedBefore(spy, socket)).toEqual([]);
      expect(processesMatching(fallback).filter((pid) => pid !== spy.child.pid)).toEqual([]);
      expect(readdirSync(fallback)).toEqual(["wfctld.sock"]);

      // wfctld agrees: it refuses the same directory, by default and by --socket.
      for (const args of [[], ["--socket", socket]]) {
        const daemon = await wfctldUntilExit(args, { TMPDIR: tmp });
        expect(daemon.code).toBe(1);
        expect(daemon.stderr).toContain(`refusing the daemon's socket directory ${fallback}: it belongs to ${owner}`);
        expect(daemon.stderr).toContain("[SOCKET_UNTRUSTED]");
      }
      expect(readdirSync(fallback)).toEqual(["wfctld.sock"]);
    },
  );

  it("a directory of the user's own that its group can write is refused; made private, the same socket is used", async () => {
    const dir = join(base(), "run");
    mkdirSync(dir);
    chmodSync(dir, 0o770);
    const socket = join(dir, "wfctld.sock");
    const spy = await listener(socket);

    const refused = await wfctl(["daemon", "status"], { WFCTL_SOCKET: socket });
    expectRefused(refused, `refusing the daemon's socket directory ${dir}: it is open to its group (mode 0770)`, `chmod 700 ${dir}`);
    expect(await recordedBefore(spy, socket)).toEqual([]);
    const daemon = await wfctldUntilExit(["--socket", socket], {});
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`refusing the daemon's socket directory ${dir}: it is open to its group (mode 0770)`);

    // The control: the check is what kept wfctl out. Made private, wfctl connects (to a listener that is no daemon).
    chmodSync(dir, 0o700);
    const seen = spy.out.lines.length;
    await wfctl(["daemon", "status"], { WFCTL_SOCKET: socket });
    expect(spy.out.lines.slice(seen).join("\n")).toMatch(/^data \d+ "POST \/wfctl\.daemon\.v1\.DaemonService\/Status/m);
  });

  it("a socket directory that is a symbolic link is refused, even to a private directory of the user's own", async () => {
    const root = base();
    const real = join(root, "real");
    mkdirSync(real, { mode: 0o700 });
    const link = join(root, "link");
    symlinkSync(real, link);
    const spy = await listener(join(real, "wfctld.sock"));

    const result = await wfctl(["infra", "plan", "-c", CONFIG], { WFCTL_SOCKET: join(link, "wfctld.sock") });
    expectRefused(result, `refusing the daemon's socket directory ${link}: it is a symbolic link (to ${real})`);
    expect(await recordedBefore(spy, join(real, "wfctld.sock"))).toEqual([]);
    const daemon = await wfctldUntilExit(["--socket", join(link, "wfctld.sock")], {});
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`refusing the daemon's socket directory ${link}: it is a symbolic link`);
  });

  it("another user's socket in the user's own private directory is refused, by the client and by wfctld", async () => {
    requireAnotherUser();
    const dir = join(base(), "run");
    mkdirSync(dir, { mode: 0o700 });
    const socket = join(dir, "wfctld.sock");
    const spy = await listener(socket);
    lchownSync(socket, NOBODY.uid, NOBODY.gid);

    const result = await wfctl(["infra", "plan", "-c", CONFIG], { WFCTL_SOCKET: socket });
    expectRefused(result, `refusing the daemon socket ${socket}: it belongs to ${describeUid(NOBODY.uid)}`, "neither connects to it nor starts a daemon in it");
    expect(await recordedBefore(spy, socket)).toEqual([]);
    const daemon = await wfctldUntilExit(["--socket", socket], {});
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`refusing the daemon socket ${socket}: it belongs to ${describeUid(NOBODY.uid)}`);
  });
});
