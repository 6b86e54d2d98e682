// A throwaway S3-compatible server for the tests: s3rver (an emulator in
// Node.js) on a free loopback port, with its data in a temporary directory.
// It creates no bucket; tests make their own (path-style, credentials
// S3RVER/S3RVER, region us-east-1).
//
// s3rver 3.7.1 needs two corrections to behave like S3 where wfctl relies on it:
// - it builds ListObjectsV2 continuation tokens with DES, which Node's
//   OpenSSL 3 refuses (every listing over 1000 keys is a 500) unless the
//   legacy provider is loaded: so it runs in its own Node process started with
//   --openssl-legacy-provider (which also keeps its logger out of the test worker);
// - it writes an object in place (truncate, then write) and answers before the
//   data is on disk, so racing PUTs to one key interleave into a mix of both,
//   where S3 replaces objects atomically: that process replaces its store's
//   object and metadata writes with write-to-a-temporary-file-then-rename.
// What it does not do at all: If-None-Match on PUT (conditional writes): it
// overwrites. With `conditionalWrites: true`, a shim in front of it answers a
// PUT with If-None-Match: * to an existing key 412 PreconditionFailed, as S3
// does (one such PUT per key at a time), so the atomic lock path runs too.
// The emulator runs in s3-emulator.cjs. See plugins/state-s3/README.md.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ROOT } from "../helpers/paths.js";
import { type LoopbackServer, startLoopbackServer } from "./process.js";

export type S3Server = LoopbackServer;

/**
 * Starts s3rver; stop() ends it and removes its data. `conditionalWrites`
 * puts the If-None-Match shim in front of it.
 */
export function startS3Server(options: { conditionalWrites?: boolean } = {}): Promise<S3Server> {
  const root = dirname(createRequire(import.meta.url).resolve("s3rver/package.json"));
  const mode = options.conditionalWrites ? "conditional" : "plain";
  const script = join(ROOT, "test", "servers", "s3-emulator.cjs");
  return startLoopbackServer("s3rver", (directory) => ["--openssl-legacy-provider", script, root, directory, mode], 15_000);
}
