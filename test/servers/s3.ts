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
// See plugins/state-s3/README.md.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { stopProcess } from "./process.js";

export interface S3Server {
  /** Base URL, e.g. http://127.0.0.1:41234. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Runs in the emulator's process: argv = [s3rver package directory, data directory, "conditional" | "plain"]. */
const EMULATOR = String.raw`
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const [root, directory, mode] = process.argv.slice(1);
const S3rver = require(root);
const Store = require(path.join(root, "lib", "stores", "filesystem.js"));
const S3Object = require(path.join(root, "lib", "models", "object.js"));

// Replace a file whole (never a mix of two writers); the directory may have
// been removed by a concurrent delete's clean-up.
async function replaceFile(file, data) {
  const tmp = file + "." + crypto.randomUUID() + ".tmp";
  try {
    await fs.promises.writeFile(tmp, data);
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    await fs.promises.writeFile(tmp, data);
  }
  await fs.promises.rename(tmp, file);
}

Store.prototype.putMetadata = async function (bucket, key, metadata, md5) {
  const json = {};
  for (const [name, value] of Object.entries(metadata)) {
    if (S3Object.ALLOWED_METADATA.includes(name) || name.startsWith("x-amz-meta-")) json[name] = value;
  }
  if (md5) await replaceFile(this.getResourcePath(bucket, key, "object.md5"), md5);
  await replaceFile(this.getResourcePath(bucket, key, "metadata.json"), JSON.stringify(json, null, 2));
};

Store.prototype.putObject = async function (object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, "object");
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const chunks = [];
  if (Buffer.isBuffer(object.content)) chunks.push(object.content);
  else for await (const chunk of object.content) chunks.push(Buffer.from(chunk));
  const content = Buffer.concat(chunks);
  const md5 = crypto.createHash("md5").update(content).digest("hex");
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  await replaceFile(objectPath, content);
  return { size: content.length, md5 };
};

const s3rver = new S3rver({ directory, silent: true });
const handle = s3rver.callback();

// If-None-Match: * on PUT, as S3 does it: one such PUT per key at a time,
// refused with 412 when the key exists.
const queues = new Map();
function oneAtATime(id, fn) {
  const run = (queues.get(id) || Promise.resolve()).then(fn);
  const settled = run.catch(() => {});
  queues.set(id, settled);
  settled.then(() => queues.get(id) === settled && queues.delete(id));
  return run;
}
async function conditionalPut(req, res) {
  const [, bucket, ...parts] = new URL(req.url, "http://s3").pathname.split("/");
  const key = parts.map(decodeURIComponent).join("/");
  await oneAtATime(bucket + "/" + key, async () => {
    if (await s3rver.store.existsObject(decodeURIComponent(bucket), key)) {
      req.resume();
      res.writeHead(412, { "content-type": "application/xml" });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>');
      return;
    }
    await new Promise((resolve) => {
      res.once("close", resolve);
      handle(req, res);
    });
  });
}

const server = http.createServer((req, res) => {
  if (mode === "conditional" && req.method === "PUT" && req.headers["if-none-match"] === "*") {
    conditionalPut(req, res).catch((err) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  } else {
    handle(req, res);
  }
});
server.on("error", (err) => {
  process.stderr.write(String((err && err.stack) || err) + "\n");
  process.exit(1);
});
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
// The test process going away (its end of stdin closing) ends the emulator too.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
`;

function waitForPort(child: ChildProcess, log: () => string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`s3rver did not start within ${timeoutMs} ms:\n${log()}`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    child.once("exit", (code) => fail(new Error(`s3rver exited with code ${code}:\n${log()}`)));
    child.once("error", fail);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line !== undefined) {
        clearTimeout(timer);
        try {
          const { port } = JSON.parse(line) as { port: unknown };
          if (typeof port !== "number") throw new Error(`no port in ${line}`);
          resolve(port);
        } catch (err) {
          reject(new Error(`s3rver said something unexpected: ${line} (${(err as Error).message})`));
        }
      }
    });
  });
}

/**
 * Starts s3rver; stop() ends it and removes its data. `conditionalWrites`
 * puts the If-None-Match shim in front of it.
 */
export async function startS3Server(options: { conditionalWrites?: boolean } = {}): Promise<S3Server> {
  const root = dirname(createRequire(import.meta.url).resolve("s3rver/package.json"));
  const directory = mkdtempSync(join(tmpdir(), "wft-s3-"));
  const mode = options.conditionalWrites ? "conditional" : "plain";
  const child = spawn(process.execPath, ["--openssl-legacy-provider", "-e", EMULATOR, root, directory, mode], { stdio: ["pipe", "pipe", "pipe"] });
  let log = "";
  child.stderr?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  const stop = async () => {
    await stopProcess(child, "SIGTERM", 5_000);
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    const port = await waitForPort(child, () => log, 15_000);
    return { endpoint: `http://127.0.0.1:${port}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
