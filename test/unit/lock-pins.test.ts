// The lockfile's pins compared with wfctl.yaml: every field that decides what
// runs is pinned, any change is named, env values are never written in the
// clear, and lockfiles of older formats are read but not trusted.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { checksumPlatform, pluginChecksum, sha256File, treeChecksum } from "../../daemon/supervisor/checksum.js";
import { type Lock, envDigest, lockDifferences, lockEntry, parseLock, whyNotLocked } from "../../daemon/supervisor/lockfile.js";
import { tempDir } from "../helpers/paths.js";
import { isInside } from "../../daemon/supervisor/package-resolve.js";
import type { ManifestPlugin } from "../../daemon/supervisor/project-manifest.js";
import { ErrorCode, type WfctlError } from "../../proto/errors.js";

const SHA = "a".repeat(64);
const LOCKFILE = "/p/.wfctl-lock.yaml";
const plugin: ManifestPlugin = { name: "local2", kind: "provider", source: "./p.mjs", args: ["--quiet"], env: { MODE: "fast", TOKEN: "s3cr3t-value" } };
const CHECKSUM = `sha256:${SHA}`;
const entry = lockEntry(plugin, { path: "p.mjs", node: true, root: "p.mjs", checksums: { any: CHECKSUM } }, { version: "1.0.0", readsEnv: ["AWS_*"] });
const lock = (entries: Lock["entries"], format: 1 | 2 | 3 = 3): Lock => ({ format, entries }) as Lock;

describe("a lock entry", () => {
  it("pins kind, source, file, runtime, version, checksums of all its code, args, env and reads_env", () => {
    expect(entry).toEqual({
      kind: "provider",
      source: "source:./p.mjs",
      path: "p.mjs",
      node: true,
      version: "1.0.0",
      root: "p.mjs",
      checksums: { any: CHECKSUM },
      args: ["--quiet"],
      env: { MODE: envDigest("MODE", "fast"), TOKEN: envDigest("TOKEN", "s3cr3t-value") },
      reads_env: ["AWS_*"],
    });
  });

  it("keeps a digest of each env value, never the value", () => {
    expect(stringify(entry)).not.toContain("s3cr3t-value");
    expect(entry.env["TOKEN"]).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The name is part of the digest: the same value under two names does not look the same.
    expect(envDigest("A", "v")).not.toBe(envDigest("B", "v"));
    expect(envDigest("A", "v")).not.toBe(envDigest("A", "w"));
  });
});

describe("wfctl.yaml against its lock entry", () => {
  it("finds nothing when nothing changed", () => {
    expect(lockDifferences(plugin, entry)).toEqual([]);
    expect(whyNotLocked(plugin, lock({ local2: entry }), LOCKFILE)).toBeUndefined();
  });

  it("names an env variable added, changed or removed", () => {
    const added = { ...plugin, env: { ...plugin.env, NODE_OPTIONS: "--import=/tmp/x.mjs" } };
    expect(whyNotLocked(added, lock({ local2: entry }), LOCKFILE)).toBe(`plugin "local2": env.NODE_OPTIONS (not in the lockfile) differs from ${LOCKFILE}`);
    const changed = { ...plugin, env: { ...plugin.env, MODE: "slow" } };
    expect(whyNotLocked(changed, lock({ local2: entry }), LOCKFILE)).toBe(`plugin "local2": env.MODE differs from ${LOCKFILE}`);
    const removed = { ...plugin, env: { MODE: "fast" } };
    expect(lockDifferences(removed, entry)).toEqual(["env.TOKEN (no longer in wfctl.yaml)"]);
  });

  it("names args, source, package, kind and version changes, all at once", () => {
    expect(lockDifferences({ ...plugin, args: ["--quiet", "--evil"] }, entry)).toEqual(["args"]);
    expect(lockDifferences({ ...plugin, args: [] }, entry)).toEqual(["args"]);
    expect(lockDifferences({ ...plugin, args: ["--loud"] }, entry)).toEqual(["args"]);
    expect(lockDifferences({ ...plugin, source: "./q.mjs" }, entry)).toEqual(["source (locked: source:./p.mjs, wfctl.yaml: source:./q.mjs)"]);
    const { source: _source, ...rest } = plugin;
    expect(lockDifferences({ ...rest, package: "@acme/p" }, entry)).toEqual(["package (locked: source:./p.mjs, wfctl.yaml: package:@acme/p)"]);
    expect(lockDifferences({ ...plugin, kind: "state_backend" }, entry)).toEqual(["kind (locked: provider, wfctl.yaml: state_backend)"]);
    expect(lockDifferences({ ...plugin, version: "2.0.0" }, entry)).toEqual(["version (locked: 1.0.0, wfctl.yaml asks for 2.0.0)"]);
    expect(lockDifferences({ ...rest, package: "@acme/p", from: "./p.tgz" }, { ...entry, source: "package:@acme/p" })).toEqual(["from (locked: none, wfctl.yaml: ./p.tgz)"]);
    const many = { ...plugin, args: [], env: { MODE: "slow", TOKEN: "s3cr3t-value" } };
    expect(whyNotLocked(many, lock({ local2: entry }), LOCKFILE)).toBe(`plugin "local2": args, env.MODE differ from ${LOCKFILE}`);
  });

  it("never puts an env value in the message", () => {
    const changed = { ...plugin, env: { MODE: "fast", TOKEN: "n3w-s3cr3t" } };
    const why = whyNotLocked(changed, lock({ local2: entry }), LOCKFILE) ?? "";
    expect(why).toContain("env.TOKEN");
    expect(why).not.toContain("s3cr3t");
  });

  it("says when a plugin is not in the lockfile", () => {
    expect(whyNotLocked(plugin, lock({}), LOCKFILE)).toBe(`plugin "local2" is not in ${LOCKFILE}`);
  });

  it("refuses an entry of a format-1 lockfile, which pinned neither args nor env, saying to lock again", () => {
    const { args: _a, env: _e, reads_env: _r, ...legacy } = entry;
    expect(whyNotLocked(plugin, lock({ local2: legacy } as never, 1), LOCKFILE)).toBe(
      `plugin "local2" was locked by an older wfctl (${LOCKFILE} is lockfile_version 1, which does not pin args, env and reads_env)`,
    );
  });

  it("refuses an entry of a format-2 lockfile, which pinned only the file started, saying to lock again", () => {
    const { root: _root, checksums: _c, ...v2 } = entry;
    expect(whyNotLocked(plugin, lock({ local2: { ...v2, sha256: SHA } } as never, 2), LOCKFILE)).toBe(
      `plugin "local2" was locked by an older wfctl (${LOCKFILE} is lockfile_version 2, which pins only the file a plugin starts, not all the code it runs)`,
    );
  });
});

describe("reading a lockfile", () => {
  const v1 = `lockfile_version: 1\nplugins:\n  local2: { kind: provider, source: "source:./p.mjs", path: p.mjs, node: true, version: 1.0.0, sha256: ${SHA} }\n`;

  it("reads formats 1, 2 and 3", async () => {
    expect(await parseLock(LOCKFILE, v1)).toMatchObject({ format: 1, entries: { local2: { version: "1.0.0" } } });
    const { root: _root, checksums: _c, ...v2 } = entry;
    expect(await parseLock(LOCKFILE, stringify({ lockfile_version: 2, plugins: { local2: { ...v2, sha256: SHA } } }))).toMatchObject({ format: 2 });
    expect(await parseLock(LOCKFILE, stringify({ lockfile_version: 3, plugins: { local2: entry } }))).toEqual({ format: 3, entries: { local2: entry } });
  });

  it("refuses a format-3 entry without its checksums, a malformed checksum, and an unknown format, naming the file", async () => {
    const { checksums: _c, ...unpinned } = entry;
    let error = await parseLock(LOCKFILE, stringify({ lockfile_version: 3, plugins: { local2: unpinned } })).then(
      () => undefined,
      (err: unknown) => err as WfctlError,
    );
    expect(error?.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(error?.message).toContain("checksums");
    error = await parseLock(LOCKFILE, stringify({ lockfile_version: 3, plugins: { local2: { ...entry, checksums: { any: SHA } } } })).then(
      () => undefined,
      (err: unknown) => err as WfctlError,
    );
    expect(error?.message).toContain("checksums.any");
    error = await parseLock(LOCKFILE, v1.replace("lockfile_version: 1", "lockfile_version: 2")).then(
      () => undefined,
      (err: unknown) => err as WfctlError,
    );
    expect(error?.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(error?.message).toContain(`${LOCKFILE}:3:`);
    error = await parseLock(LOCKFILE, "lockfile_version: 7\nplugins: {}\n").then(
      () => undefined,
      (err: unknown) => err as WfctlError,
    );
    expect(error?.message).toBe(`${LOCKFILE}: lockfile_version 7 is not one this wfctl reads (1 to 3); run \`wfctl plugins lock\` to rewrite it`);
  });
});

describe("containment of a package plugin", () => {
  it("is by path components, not by string prefix", () => {
    expect(isInside("/p/node_modules/x/bin.js", "/p")).toBe(true);
    expect(isInside("/p", "/p")).toBe(true);
    expect(isInside("/p/..x/bin.js", "/p")).toBe(true);
    expect(isInside("/p2/node_modules/x", "/p")).toBe(false);
    expect(isInside("/node_modules/x", "/p")).toBe(false);
  });
});

describe("hashing a pinned file", () => {
  it("hashes a regular file, and refuses a FIFO or a device at once instead of waiting on it or reading it for ever", async () => {
    const dir = tempDir("wft-sha-");
    try {
      const file = join(dir.path, "plugin.mjs");
      writeFileSync(file, "x".repeat(200_000));
      expect(await sha256File(file)).toBe(createHash("sha256").update("x".repeat(200_000)).digest("hex"));
      const fifo = join(dir.path, "fifo");
      execFileSync("mkfifo", [fifo]);
      await expect(sha256File(fifo)).rejects.toThrow(`${fifo} is not a regular file`);
      await expect(sha256File("/dev/zero")).rejects.toThrow("/dev/zero is not a regular file");
    } finally {
      dir.cleanup();
    }
  });
});

describe("the checksum of a plugin's code", () => {
  it("is sha256: of a file, what sha256sum prints", async () => {
    const dir = tempDir("wft-sum-");
    try {
      const file = join(dir.path, "plugin.mjs");
      writeFileSync(file, "console.log(1)\n");
      expect(await pluginChecksum(file)).toBe(`sha256:${createHash("sha256").update("console.log(1)\n").digest("hex")}`);
      expect(await checksumPlatform(file, true)).toBe("any");
      expect(await checksumPlatform(file, false)).toBe(`${process.platform}-${process.arch}`);
    } finally {
      dir.cleanup();
    }
  });

  it("is h1: of a directory, and changes with any byte, file added, file removed, file renamed or link retargeted", async () => {
    const dir = tempDir("wft-tree-");
    try {
      const root = join(dir.path, "node_modules");
      mkdirSync(join(root, "@acme", "p", "dist"), { recursive: true });
      mkdirSync(join(root, ".bin"));
      writeFileSync(join(root, "@acme", "p", "package.json"), "{}\n");
      writeFileSync(join(root, "@acme", "p", "dist", "main.mjs"), "export {}\n");
      symlinkSync("../@acme/p/dist/main.mjs", join(root, ".bin", "p"));
      const first = await treeChecksum(root);
      expect(first).toMatch(/^h1:[A-Za-z0-9+/]{43}=$/);
      expect(await pluginChecksum(root)).toBe(first);
      // npm's record of the install is not code, and differs between machines.
      writeFileSync(join(root, ".package-lock.json"), '{"resolved":"file:/somewhere"}');
      expect(await treeChecksum(root)).toBe(first);
      const seen = new Set([first]);
      const changed = async (what: string) => {
        const now = await treeChecksum(root);
        expect(seen.has(now), what).toBe(false);
        seen.add(now);
      };
      writeFileSync(join(root, "@acme", "p", "dist", "main.mjs"), "export {};\n");
      await changed("one byte");
      writeFileSync(join(root, "@acme", "p", "dist", "extra.mjs"), "");
      await changed("a file added");
      execFileSync("mv", [join(root, "@acme", "p", "dist", "extra.mjs"), join(root, "@acme", "p", "dist", "other.mjs")]);
      await changed("a file renamed");
      execFileSync("rm", [join(root, ".bin", "p")]);
      await changed("a link removed");
      symlinkSync("/tmp/elsewhere.mjs", join(root, ".bin", "p"));
      await changed("a link retargeted");
      expect(await checksumPlatform(root, true)).toBe("any");
      writeFileSync(join(root, "@acme", "p", "addon.node"), "");
      expect(await checksumPlatform(root, true)).toBe(`${process.platform}-${process.arch}`);
    } finally {
      dir.cleanup();
    }
  });
});
