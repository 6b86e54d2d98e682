// What the daemon writes beside its socket (issue 17, item 2): its log, audit
// log and pid file are opened with O_NOFOLLOW and must be regular files of its
// own user. A symbolic link planted in their place (pointing at a file, or at
// nothing yet), a FIFO, or another user's pid file makes the real wfctld (and
// `wfctl daemon start`) refuse to start, naming the file, and the file a link
// points to is left as it was. An audit log replaced by a link while the
// daemon runs is not written through either.
import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeUid } from "../../proto/private-files.js";
import { daemonFiles } from "../../proto/socket.js";
import { Cli, cliSandbox, expectExit } from "../helpers/cli.js";
import { QUICKSTART, tempDir } from "../helpers/paths.js";
import { NOBODY, requireAnotherUser } from "../helpers/users.js";
import { wfctldUntilExit } from "../helpers/wfctld.js";


const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A private socket directory (as wfctl requires), a victim file outside it, and the daemon's file names there. */
function layout() {
  const temp = tempDir("wft-sec-");
  cleanups.push(temp.cleanup);
  const dir = join(temp.path, "run");
  mkdirSync(dir, { mode: 0o700 });
  const victim = join(temp.path, "victim.txt");
  writeFileSync(victim, "the victim's own words\n");
  const socket = join(dir, "wfctld.sock");
  return { temp: temp.path, dir, socket, victim, files: daemonFiles(socket), before: statSync(victim).mtimeMs };
}

/** The victim file is exactly as it was. */
function expectUntouched(l: ReturnType<typeof layout>): void {
  expect(readFileSync(l.victim, "utf8")).toBe("the victim's own words\n");
  expect(statSync(l.victim).mtimeMs).toBe(l.before);
}

describe("the daemon writes only its own files", () => {
  it("a log that is a symbolic link: wfctld and `wfctl daemon start` refuse to start, naming it; the file it points to is unchanged", async () => {
    const l = layout();
    symlinkSync(l.victim, l.files.log);
    const message = `refusing the daemon's log ${l.files.log}: it is a symbolic link (to ${l.victim})`;

    const daemon = await wfctldUntilExit(["--socket", l.socket]);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(message);
    expect(daemon.stderr).toContain("[SOCKET_UNTRUSTED]");

    const started = await new Cli(l.dir).run(["daemon", "start"]);
    expectExit(started, 1);
    expect(started.stderr).toContain(message);
    expectUntouched(l);
    expect(existsSync(l.socket)).toBe(false);
    expect(existsSync(l.files.pid)).toBe(false);

    // The control: without the link, the same daemon starts and makes its log a private regular file.
    rmSync(l.files.log);
    const cli = new Cli(l.dir);
    cleanups.push(() => cli.run(["daemon", "stop"]));
    expectExit(await cli.run(["daemon", "start"]), 0);
    expect(lstatSync(l.files.log).isFile()).toBe(true);
    expect(statSync(l.files.log).mode & 0o777).toBe(0o600);
  });

  it("a log linked to a file that does not exist yet: refused, and the file is not created", async () => {
    const l = layout();
    const planted = join(l.temp, "would-be-created.txt");
    symlinkSync(planted, l.files.log);
    const daemon = await wfctldUntilExit(["--socket", l.socket]);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`refusing the daemon's log ${l.files.log}: it is a symbolic link (to ${planted})`);
    expect(existsSync(planted)).toBe(false);
  });

  it("an audit log that is a symbolic link: wfctld refuses to start, naming it; the file it points to is unchanged", async () => {
    const l = layout();
    symlinkSync(l.victim, l.files.audit);
    const daemon = await wfctldUntilExit(["--socket", l.socket]);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`refusing the daemon's audit log ${l.files.audit}: it is a symbolic link (to ${l.victim})`);
    expectUntouched(l);
    expect(existsSync(l.socket)).toBe(false);
  });

  it("a FIFO in the log's place is refused at once, not waited on", async () => {
    const l = layout();
    execFileSync("mkfifo", [l.files.log]);
    // No reader will ever open the FIFO: a daemon that opened it for writing would hang here until the test times out.
    const daemon = await wfctldUntilExit(["--socket", l.socket]);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`refusing the daemon's log ${l.files.log}: it is not a regular file: it is a FIFO or other special file`);
  });

  it("a pid file another user made: refused by name and owner (not ENOTDIR … scandir), and left as it was", async () => {
    requireAnotherUser();
    const l = layout();
    writeFileSync(l.files.pid, "4242\n");
    chownSync(l.files.pid, NOBODY.uid, NOBODY.gid);
    const daemon = await wfctldUntilExit(["--socket", l.socket]);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`refusing the daemon's pid file ${l.files.pid}: it belongs to ${describeUid(NOBODY.uid)}`);
    expect(daemon.stderr).toContain(`rm ${l.files.pid}`);
    expect(daemon.stderr).not.toMatch(/ENOTDIR|scandir/);
    expect(readFileSync(l.files.pid, "utf8")).toBe("4242\n");
    expect(statSync(l.files.pid).uid).toBe(NOBODY.uid);
    expect(existsSync(l.socket)).toBe(false);
  });

  it("a pid file that is a symbolic link: refused by name; the file it points to is unchanged", async () => {
    const l = layout();
    symlinkSync(l.victim, l.files.pid);
    const daemon = await wfctldUntilExit(["--socket", l.socket]);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain(`refusing the daemon's pid file ${l.files.pid}: it is a symbolic link (to ${l.victim})`);
    expectUntouched(l);
  });
});

describe("an audit log replaced by a link while the daemon runs", () => {
  const sandbox = cliSandbox("wft-sec-audit-");

  it("is not written through: the prune still happens, the linked file is unchanged, and the daemon log says the audit line is missing", async () => {
    const config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, readFileSync(join(QUICKSTART, "infra.yaml"), "utf8"));
    expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    const files = daemonFiles(sandbox.cli.socket);
    const victim = join(sandbox.dir, "victim.txt");
    writeFileSync(victim, "the victim's own words\n");
    symlinkSync(victim, files.audit);
    rmSync(join(sandbox.dir, "out", "site", "robots.txt"));

    const result = await sandbox.cli.run(["infra", "apply", "-c", config, "--refresh", "--auto-approve"]);
    expectExit(result, 0);
    expect(result.stderr).toMatch(/AUDIT prune operation="apply --refresh" resource=robots/);
    expect(readFileSync(victim, "utf8")).toBe("the victim's own words\n");
    const log = readFileSync(files.log, "utf8");
    expect(log).toContain("could not write the audit log");
    expect(log).toContain(`refusing the daemon's audit log ${files.audit}: it is a symbolic link`);
  });
});
