// The checksum that pins all the code a plugin runs. A plugin that is one
// file (a native executable, a bundled .mjs) is pinned by `sha256:<hex>` of
// that file, what `sha256sum` prints. A plugin installed as a package is
// pinned by `h1:<base64>` of its whole install directory — the hash Go
// modules and Terraform's lockfile use: the sha256 of the sorted lines
// "<sha256 of file>  <relative path>", so a changed, added or removed file
// anywhere in it changes the checksum.
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { join, relative, sep } from "node:path";

/** More files than this in a plugin's directory is refused: hashing it before every start would be slow, and no plugin needs it. */
export const MAX_TREE_FILES = 50_000;

/** sha256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  // Opened without blocking and checked on the open handle: a lockfile naming
  // a FIFO or /dev/zero must not wedge or flood the daemon. Hashed as a
  // stream, so a large executable is never held whole.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw new Error(`${path} is not a regular file`);
    const hash = createHash("sha256");
    for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
    return hash.digest("hex");
  } finally {
    await handle.close();
  }
}

/**
 * npm's record of an install (node_modules/.package-lock.json): it names
 * where each package came from (a registry mirror, a tarball's path), which
 * differs between machines installing the same code, and it is never run.
 */
const NPM_RECORD = ".package-lock.json";

/** Every entry under `dir` (files, and symbolic links as such), as paths relative to `root` with `/` separators. */
async function walk(root: string, dir: string, found: { path: string; link: boolean }[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (dir === root && entry.name === NPM_RECORD) continue;
    if (entry.isDirectory()) await walk(root, path, found);
    else if (entry.isFile() || entry.isSymbolicLink()) found.push({ path: relative(root, path).split(sep).join("/"), link: entry.isSymbolicLink() });
    else throw new Error(`${path} is neither a file, a directory nor a link`);
    if (found.length > MAX_TREE_FILES) throw new Error(`${root} holds more than ${MAX_TREE_FILES} files`);
  }
}

/**
 * `h1:` checksum of the directory `root`: every regular file by its content,
 * every symbolic link by its target (never followed), in path order.
 */
export async function treeChecksum(root: string): Promise<string> {
  const found: { path: string; link: boolean }[] = [];
  await walk(root, root, found);
  found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const summary = createHash("sha256");
  for (const { path, link } of found) {
    const full = join(root, ...path.split("/"));
    const digest = link ? createHash("sha256").update(`link:${await readlink(full)}`).digest("hex") : await sha256File(full);
    summary.update(`${digest}  ${path}\n`);
  }
  return `h1:${summary.digest("base64")}`;
}

/** The checksum of a plugin's code: `sha256:` of a file, `h1:` of a directory. */
export async function pluginChecksum(root: string): Promise<string> {
  return (await lstat(root)).isDirectory() ? treeChecksum(root) : `sha256:${await sha256File(root)}`;
}

/**
 * The platforms a checksum holds for: `any` for code Node.js runs that
 * carries no native addon (a .node file), else this machine's
 * `<platform>-<arch>` (a native executable, an addon built for it).
 */
export async function checksumPlatform(root: string, node: boolean): Promise<string> {
  const here = `${process.platform}-${process.arch}`;
  if (!node) return here;
  if (!(await lstat(root)).isDirectory()) return "any";
  const found: { path: string; link: boolean }[] = [];
  await walk(root, root, found);
  return found.some((f) => f.path.endsWith(".node")) ? here : "any";
}
