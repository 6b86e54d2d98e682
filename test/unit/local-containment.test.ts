// The local provider's containment (plugins/provider-local/containment.ts)
// against a real filesystem in a temporary directory: a path is under the
// root when what it resolves to is, symlinks followed, with the root's own
// real path as the reference; directories made on the way to a write are
// checked as they are reached; a directory swapped during a write is caught;
// the root swapped after Configure is caught by the next operation.
import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkStillAt, containedParent, containedPath, inspectUnderRoot, isInside, resolveUnderRoot } from "../../plugins/provider-local/containment.js";
import type { LocalProvider } from "../../plugins/provider-local/paths.js";
import { ErrorCode } from "../../proto/errors.js";
import { rejectionOf } from "../helpers/errors.js";
import { tempDir } from "../helpers/paths.js";

const temp = tempDir("wft-contain-");
afterAll(() => temp.cleanup());

/** A fresh root `out` under a fresh directory, and a directory `elsewhere` beside it (outside the root). */
function setup(name: string): { provider: LocalProvider; elsewhere: string } {
  const base = join(temp.path, name);
  const root = join(base, "out");
  const elsewhere = join(base, "elsewhere");
  mkdirSync(root, { recursive: true });
  mkdirSync(elsewhere);
  return { provider: { root, realRoot: root }, elsewhere };
}

describe("local provider containment", () => {
  it("isInside: the root and what is under it, nothing else", () => {
    expect(isInside("/r/out", "/r/out")).toBe(true);
    expect(isInside("/r/out", "/r/out/a/b")).toBe(true);
    expect(isInside("/r/out", "/r/out/..x")).toBe(true);
    expect(isInside("/r/out", "/r")).toBe(false);
    expect(isInside("/r/out", "/r/outside")).toBe(false);
    expect(isInside("/r/out", "/etc/passwd")).toBe(false);
  });

  it("takes paths that stay under the root, existing or not, through symlinks that stay inside", async () => {
    const { provider } = setup("inside");
    mkdirSync(join(provider.root, "real"));
    symlinkSync(join(provider.root, "real"), join(provider.root, "alias"));
    expect(await containedPath(provider, "new/dir/file", "f (local.file)")).toEqual({ full: join(provider.root, "new/dir/file"), real: undefined });
    expect(await containedPath(provider, "alias", "f (local.file)")).toEqual({ full: join(provider.root, "alias"), real: join(provider.root, "real") });
    expect((await containedPath(provider, "alias/x", "f (local.file)")).full).toBe(join(provider.root, "alias/x"));
  });

  // Without an operation id every call checks the root; the calls of one operation share that check (and walk a path with lstat until a symlink).
  for (const operation of ["", "op-escape"]) {
    it(`refuses ../ by its text (CONFIG_INVALID) and a symlink out of the root anywhere along the path (PERMISSION_DENIED), naming resource and path (operation id "${operation}")`, async () => {
      const { provider, elsewhere } = setup(`escape${operation}`);
      symlinkSync(elsewhere, join(provider.root, "link"));
      mkdirSync(join(provider.root, "dir"));
      symlinkSync(elsewhere, join(provider.root, "dir", "link"));
      writeFileSync(join(elsewhere, "file"), "not theirs");
      symlinkSync(join(elsewhere, "file"), join(provider.root, "file-link"));
      const dotdot = await rejectionOf(containedPath(provider, "../x", "page (local.file)", operation));
      expect(dotdot.code).toBe(ErrorCode.CONFIG_INVALID);
      expect(dotdot.message).toContain('page (local.file): field "path" "../x" points outside the provider root');
      for (const path of ["link", "link/x", "link/deeper/x", "dir/link", "dir/link/x", "file-link", "dir/../link/x"]) {
        const err = await rejectionOf(containedPath(provider, path, "page (local.file)", operation));
        expect(err.code).toBe(ErrorCode.PERMISSION_DENIED);
        expect(err.message).toContain(`page (local.file): path "${path.replace("dir/../", "")}" leads outside the provider root ${provider.root}`);
        expect(err.message).toContain(`resolves to ${elsewhere}`);
      }
      // A symlink to nothing would create its target wherever it points: refused too.
      symlinkSync(join(elsewhere, "not-yet"), join(provider.root, "dangling"));
      expect((await rejectionOf(containedPath(provider, "dangling/x", "page (local.file)", operation))).message).toContain("leads outside the provider root");
      symlinkSync(join(provider.root, "not-yet"), join(provider.root, "dangling-in"));
      expect((await rejectionOf(containedPath(provider, "dangling-in", "page (local.file)", operation))).message).toContain("which does not exist; refusing to write through it");
      // What stays inside is taken, symlinks inside included, and what is there is what the path leads to.
      writeFileSync(join(provider.root, "dir", "mine"), "mine");
      symlinkSync(join(provider.root, "dir"), join(provider.root, "dir-alias"));
      const through = await inspectUnderRoot(provider, join(provider.root, "dir-alias/mine"), "page (local.file)", operation);
      expect(through?.real).toBe(join(provider.root, "dir", "mine"));
      expect(through?.info.isFile()).toBe(true);
      expect((await inspectUnderRoot(provider, join(provider.root, "dir"), "page (local.file)", operation))?.info.isDirectory()).toBe(true);
      expect(await inspectUnderRoot(provider, join(provider.root, "dir/mine/below"), "page (local.file)", operation)).toBeUndefined();
      expect(readdirSync(elsewhere)).toEqual(["file"]);
    });
  }

  it("a root swapped for a symlink after Configure is refused from the next operation on (a warm daemon keeps the provider configured)", async () => {
    const { provider, elsewhere } = setup("root-swapped");
    writeFileSync(join(provider.root, "f.txt"), "mine");
    writeFileSync(join(elsewhere, "f.txt"), "theirs");
    expect(await containedPath(provider, "f.txt", "f (local.file)", "op-1")).toEqual({ full: join(provider.root, "f.txt"), real: join(provider.root, "f.txt") });
    renameSync(provider.root, `${provider.root}-moved`);
    symlinkSync(elsewhere, provider.root);
    for (const operation of ["op-2", ""]) {
      const err = await rejectionOf(containedPath(provider, "f.txt", "f (local.file)", operation));
      expect(err.code).toBe(ErrorCode.PERMISSION_DENIED);
      expect(err.message).toContain(`f (local.file): path "f.txt" leads outside the provider root ${provider.root}: it resolves to ${join(elsewhere, "f.txt")}`);
    }
    // Removed altogether: nothing is there, as for any missing file.
    rmSync(provider.root);
    expect(await containedPath(provider, "f.txt", "f (local.file)", "op-3")).toEqual({ full: join(provider.root, "f.txt"), real: undefined });
  });

  it("a root that is itself a symlink is the reference by its real path", async () => {
    const { provider } = setup("symlinked-root");
    const alias = join(temp.path, "symlinked-root", "alias-of-out");
    symlinkSync(provider.root, alias);
    const viaAlias: LocalProvider = { root: alias, realRoot: provider.root };
    expect(await containedPath(viaAlias, "a/b", "f (local.file)")).toEqual({ full: join(alias, "a/b"), real: undefined });
    expect(await containedParent(viaAlias, join(alias, "a/b"), "f (local.file)", { mode: 0o755 })).toBe(join(provider.root, "a"));
  });

  it("a record outside the current root is refused by name, never touched", async () => {
    const { provider, elsewhere } = setup("moved-root");
    const err = await rejectionOf(resolveUnderRoot(provider, join(elsewhere, "f"), "f (local.file)"));
    expect(err.code).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(err.message).toContain(`is not under the provider root ${provider.root}`);
  });

  it("makes the directories on the way to a write, checking each, and makes none through a symlink out", async () => {
    const { provider, elsewhere } = setup("parents");
    expect(await containedParent(provider, join(provider.root, "a/b/c.txt"), "f (local.file)", { mode: 0o755 })).toBe(join(provider.root, "a/b"));
    expect(await containedParent(provider, join(provider.root, "missing/c.txt"), "f (local.file)", undefined)).toBeUndefined();
    symlinkSync(elsewhere, join(provider.root, "a", "link"));
    const err = await rejectionOf(containedParent(provider, join(provider.root, "a/link/deep/c.txt"), "f (local.file)", { mode: 0o755 }));
    expect(err.message).toContain('"a/link" resolves to');
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it("checkStillAt catches a directory swapped for a symlink while it was written", async () => {
    const { provider, elsewhere } = setup("swap");
    const full = join(provider.root, "sub/file");
    const parent = (await containedParent(provider, full, "f (local.file)", { mode: 0o755 })) as string;
    await checkStillAt(provider, full, parent, "f (local.file)");
    renameSync(join(provider.root, "sub"), join(provider.root, "sub-old"));
    symlinkSync(elsewhere, join(provider.root, "sub"));
    const err = await rejectionOf(checkStillAt(provider, full, parent, "f (local.file)"));
    expect(err.code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(err.message).toContain(`its directory changed while it was written (it was ${parent}, now ${elsewhere}, outside the provider root`);
  });
});
