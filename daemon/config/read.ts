// Reading a file a request named (infra.yaml, wfctl.yaml, the lockfile): only
// a regular file, only up to a size, only for so long. A FIFO once wedged the
// daemon's file I/O for every client (an open() that waits for a writer),
// /dev/zero grew it by 560 MB, and a 200 MB log held it for 15 minutes.
import { constants, type Stats } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type ConfigLimits, configLimits } from "./limits.js";

/** What kind of file `stats` describes, in words, when it is not a regular file. */
function kindOf(stats: Stats): string | undefined {
  if (stats.isFile()) return undefined;
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a named pipe (FIFO)";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isSocket()) return "a socket";
  return "not a regular file";
}

/** Why open() failed, in words. */
function openFailure(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENXIO":
      return "it is a socket, not a file";
    case "ENOTDIR":
      return "a directory in its path is not a directory";
    case "ELOOP":
      return "too many symbolic links (a loop?)";
    case "EISDIR":
      return "it is a directory, not a file";
    default:
      return err.message;
  }
}

/** `promise`'s value, or a rejection with `late` after `ms` (0: no limit); a value that arrives late goes to `discard`. */
function within<T>(promise: Promise<T>, ms: number, late: () => Error, discard: (value: T) => void): Promise<T> {
  if (ms <= 0) return promise;
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(late());
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (expired) discard(value);
        else resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!expired) reject(err as Error);
      },
    );
  });
}

export interface ReadOptions {
  /** What the file is, for errors: "configuration" (the default), "plugin manifest", … */
  what?: string;
  /** Undefined instead of an error when there is no such file. */
  missingOk?: boolean;
  limits?: Readonly<ConfigLimits>;
}

/**
 * The text of `path`, which must be a regular file of at most the configured
 * size, read within the configured time. Opened non-blocking, so that a FIFO
 * cannot hold the open; its kind is checked on the open descriptor (fstat),
 * so nothing can be swapped in between the check and the read.
 */
export async function readConfigFile(path: string, options: ReadOptions & { missingOk: true }): Promise<string | undefined>;
export async function readConfigFile(path: string, options?: ReadOptions): Promise<string>;
export async function readConfigFile(path: string, options: ReadOptions = {}): Promise<string | undefined> {
  const { maxBytes, timeoutMs } = options.limits ?? configLimits();
  const what = options.what ?? "configuration";
  const refuse = (why: string) => new WfctlError(ErrorCode.CONFIG_INVALID, `cannot read ${what} ${path}: ${why}`, { details: [{ file: path, message: why }] });
  const deadline = Date.now() + timeoutMs;
  const left = () => (timeoutMs > 0 ? Math.max(1, deadline - Date.now()) : 0);
  const tooSlow = () => refuse(`not read within ${timeoutMs} ms (wfctld --config-timeout)`);
  const closeQuietly = (h: FileHandle) => void h.close().catch(() => {});
  let handle: FileHandle;
  try {
    handle = await within(open(path, constants.O_RDONLY | constants.O_NONBLOCK), left(), tooSlow, closeQuietly);
  } catch (err) {
    if (err instanceof WfctlError) throw err;
    if (options.missingOk && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw refuse(openFailure(err as NodeJS.ErrnoException));
  }
  try {
    return await within(readBounded(handle, maxBytes, refuse), left(), tooSlow, () => {});
  } finally {
    closeQuietly(handle);
  }
}

/** Reads a regular file of at most `maxBytes` from `handle`. */
async function readBounded(handle: FileHandle, maxBytes: number, refuse: (why: string) => WfctlError): Promise<string> {
  const stats = await handle.stat();
  const kind = kindOf(stats);
  if (kind !== undefined) throw refuse(`it is ${kind}, not a regular file`);
  const limit = `configuration files may be at most ${maxBytes} bytes (wfctld --max-config-bytes)`;
  if (stats.size > maxBytes) throw refuse(`it is ${stats.size} bytes; ${limit}`);
  // Read to the end, not to the size fstat gave: the file may be growing (a log). One byte past the limit is enough to know.
  let buffer = Buffer.alloc(Math.min(maxBytes + 1, Math.max(stats.size + 1, 64 * 1024)));
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      const bigger = Buffer.alloc(Math.min(maxBytes + 1, buffer.length * 2));
      buffer.copy(bigger, 0, 0, length);
      buffer = bigger;
    }
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
    if (bytesRead === 0) break;
    length += bytesRead;
    if (length > maxBytes) throw refuse(`it grew past ${maxBytes} bytes while being read; ${limit}`);
  }
  return buffer.toString("utf8", 0, length);
}
