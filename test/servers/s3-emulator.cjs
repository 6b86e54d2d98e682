// Runs in its own Node process, started by test/servers/s3.ts:
//   node --openssl-legacy-provider s3-emulator.cjs <s3rver package directory> <data directory> <conditional|plain>
// s3rver behind the corrections that file describes. Prints {"port":N} on its
// first line once it listens; ends when its stdin closes or on SIGTERM.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { oneAtATime } = require("./one-at-a-time.cjs");
const [root, directory, mode] = process.argv.slice(2);
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
