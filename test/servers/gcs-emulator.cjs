// Runs in its own Node process, started by test/servers/gcs.ts:
//   node gcs-emulator.cjs <conditional|plain> <first-use|api|none>
// The Cloud Storage emulator of firebase-tools (its Node implementation of the
// GCS JSON API), served without the firebase CLI: the CLI insists on Java 21
// and on downloading a Storage Rules runtime, neither of which the JSON API
// (always admin) needs. Prints {"port":N} on its first line once it listens;
// ends when its stdin closes (the test process went away) or on SIGTERM.
//
// What the emulator does not do like GCS, and what is done about it here:
// - it ignores preconditions (ifGenerationMatch and friends) and overwrites;
//   in "conditional" mode a shim in front honours them on uploads, deletes
//   and reads as GCS does (412 conditionNotMet), one conditional request per
//   object at a time; a precondition the shim cannot check is refused (400)
//   rather than ignored;
// - it numbers generations with Date.now(), so two writes in one millisecond
//   share one: generations are made strictly increasing;
// - it has no bucket API (501 to bucket creation, patch and deletion; a
//   bucket GET misrouted to its object download, answering 404 "No such
//   object") and creates buckets on first use. Unless the second argument
//   is "none" (the emulator as it is), gcs-buckets.cjs serves the bucket
//   part of the JSON API in front of it; with "first-use" a bucket still
//   comes into being on the first request about its objects, with "api"
//   that request is answered 404 as on GCS and buckets come only from
//   buckets.insert;
// - it keeps no noncurrent object versions (versioning.enabled is kept and
//   reported, nothing more) and takes no credentials.
"use strict";
const { dirname } = require("node:path");
// firebase-tools' own express, whichever copy npm gave it.
const express = require(require.resolve("express", { paths: [dirname(require.resolve("firebase-tools/package.json"))] }));
const { StorageEmulator } = require("firebase-tools/lib/emulator/storage");
const { createApp } = require("firebase-tools/lib/emulator/storage/server");
const { EmulatorRegistry } = require("firebase-tools/lib/emulator/registry");
const metadata = require("firebase-tools/lib/emulator/storage/metadata");
// One conditional request per object at a time, from the check to the answer.
const { oneAtATime } = require("./one-at-a-time.cjs");
const { bucketApi } = require("./gcs-buckets.cjs");

const [mode, buckets] = process.argv.slice(2);
if (!["conditional", "plain"].includes(mode) || !["first-use", "api", "none"].includes(buckets)) {
  process.stderr.write(`usage: node gcs-emulator.cjs <conditional|plain> <first-use|api|none>, not ${process.argv.slice(2).join(" ")}\n`);
  process.exit(2);
}
/** The project of buckets created on first use (buckets.insert names its own). */
const PROJECT = "demo-wfctl";

let lastGeneration = 0;
const Stored = metadata.StoredFileMetadata;
metadata.StoredFileMetadata = class extends Stored {
  constructor(opts, ...rest) {
    if (opts && !opts.generation) {
      lastGeneration = Math.max(lastGeneration + 1, Date.now());
      opts = { ...opts, generation: lastGeneration };
    }
    super(opts, ...rest);
  }
};

const PRECONDITIONS = ["ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch", "ifMetagenerationNotMatch"];


/** The object a request is about: uploads name it in the query, the rest in the path. */
function target(req) {
  const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(req.path);
  if (upload && req.method === "POST" && typeof req.query.name === "string" && req.query.uploadType !== "resumable") {
    return { bucket: decodeURIComponent(upload[1]), object: req.query.name };
  }
  const object = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(req.path);
  if (object && (req.method === "GET" || req.method === "DELETE")) return { bucket: decodeURIComponent(object[1]), object: decodeURIComponent(object[2]) };
  return undefined;
}

function failed(stored, query) {
  const generation = stored ? String(stored.generation) : "0";
  const metageneration = stored ? String(stored.metageneration) : undefined;
  if (query.ifGenerationMatch !== undefined && String(query.ifGenerationMatch) !== generation) return true;
  if (query.ifGenerationNotMatch !== undefined && String(query.ifGenerationNotMatch) === generation) return true;
  if (query.ifMetagenerationMatch !== undefined && String(query.ifMetagenerationMatch) !== metageneration) return true;
  if (query.ifMetagenerationNotMatch !== undefined && String(query.ifMetagenerationNotMatch) === metageneration) return true;
  return false;
}

(async () => {
  const emulator = new StorageEmulator({ projectId: PROJECT, host: "127.0.0.1", port: 0, rules: [] });
  const inner = await createApp(PROJECT, emulator);
  const app = express();
  // Bucket calls first: the object preconditions shim refuses preconditions on any request it does not know.
  if (buckets !== "none") app.use(bucketApi({ express, emulator, project: PROJECT, mode: buckets }));
  if (mode === "conditional") {
    app.use((req, res, next) => {
      if (!PRECONDITIONS.some((name) => req.query[name] !== undefined)) return next();
      const about = target(req);
      if (!about) {
        res.status(400).json({ error: { code: 400, message: `test shim: preconditions on ${req.method} ${req.path} are not checked here` } });
        return;
      }
      oneAtATime(`${about.bucket}/${about.object}`, async () => {
        const stored = emulator.adminStorageLayer.getMetadata(about.bucket, about.object);
        if (failed(stored, req.query)) {
          req.resume();
          res.status(412).json({
            error: {
              code: 412,
              message: "At least one of the pre-conditions you specified did not hold.",
              errors: [{ domain: "global", reason: "conditionNotMet", message: "At least one of the pre-conditions you specified did not hold." }],
            },
          });
          return;
        }
        await new Promise((resolve) => {
          res.once("close", resolve);
          next();
        });
      }).catch(next);
    });
  }
  app.use(inner);
  const server = app.listen(0, "127.0.0.1", () => {
    emulator.args.port = server.address().port;
    // The emulator builds object links from the registry's address of "storage".
    EmulatorRegistry.set("storage", emulator);
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
  server.on("error", (err) => {
    process.stderr.write(`${String(err?.stack || err)}\n`);
    process.exit(1);
  });
})().catch((err) => {
  process.stderr.write(`${String(err?.stack || err)}\n`);
  process.exit(1);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
