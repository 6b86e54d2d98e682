// The bucket part of the Cloud Storage JSON API, which the firebase Storage
// emulator lacks (it answers 501, or misroutes GET /storage/v1/b/<bucket> to
// an object download): buckets.insert, get, list, patch and delete under
// /storage/v1/b, answered as the API reference says, with its error bodies
// (gcs-bucket-resource.cjs). Objects stay the emulator's: deleting a bucket
// asks the emulator whether it holds any object. Other bucket calls (update
// by PUT, IAM policies, notifications…) still reach the emulator, which
// answers 501.
//
// Which buckets exist is decided here, in one of two ways:
// - "first-use": as the emulator itself has it, a request about objects of a
//   bucket nobody created (an upload, a listing…) creates it, with the
//   defaults an insert would give; the state-backend tests rely on it;
// - "api": as on Cloud Storage, such a request is answered 404 "The
//   specified bucket does not exist."; buckets come only from insert.
"use strict";
const { oneAtATime } = require("./one-at-a-time.cjs");
const { ApiError, checkPreconditions, errors, newBucket, patched, representation, sendError } = require("./gcs-bucket-resource.cjs");

/** The emulator's own rule for a request that names a bucket of objects (it creates the bucket on such a request). */
const BUCKET_OF_OBJECTS = /.*\/b\/(.+?)\/.*/i;
const MAX_LIST_RESULTS = 1000;

/**
 * The bucket API as an express router, to be mounted before the emulator.
 * `emulator` is firebase's StorageEmulator (its adminStorageLayer lists
 * objects); `project` owns the buckets created on first use.
 */
function bucketApi({ express, emulator, project, mode }) {
  if (mode !== "first-use" && mode !== "api") throw new Error(`bucket mode must be first-use or api, not ${mode}`);
  /** name → the bucket as gcs-bucket-resource.cjs keeps it. */
  const buckets = new Map();
  const router = express.Router();
  const json = express.json({ limit: "1mb" });
  const baseUrl = (req) => `${req.protocol}://${req.get("host")}`;

  /** Runs a handler; an ApiError it throws is the answer. */
  const handle = (fn) => (req, res, next) => {
    Promise.resolve()
      .then(() => fn(req, res))
      .catch((err) => (err instanceof ApiError ? sendError(res, err) : next(err)));
  };

  const existing = (name) => {
    const bucket = buckets.get(name);
    if (!bucket) throw errors.notFound();
    return bucket;
  };

  const requiredProject = (query) => {
    if (typeof query.project !== "string" || query.project === "") throw errors.required("Required parameter: project");
    return query.project;
  };

  // buckets.insert: POST /storage/v1/b?project=<project>
  router.post("/storage/v1/b", json, handle((req, res) => {
    const project = requiredProject(req.query);
    const bucket = newBucket(req.body, project);
    const taken = buckets.get(bucket.name);
    if (taken) throw taken.project === project ? errors.alreadyOwned() : errors.nameTaken();
    buckets.set(bucket.name, bucket);
    res.json(representation(bucket, baseUrl(req)));
  }));

  // buckets.list: GET /storage/v1/b?project=<project>[&prefix][&maxResults][&pageToken], by name.
  router.get("/storage/v1/b", handle((req, res) => {
    const project = requiredProject(req.query);
    const prefix = typeof req.query.prefix === "string" ? req.query.prefix : "";
    const after = typeof req.query.pageToken === "string" ? req.query.pageToken : "";
    const max = Math.min(Number(req.query.maxResults) > 0 ? Number(req.query.maxResults) : MAX_LIST_RESULTS, MAX_LIST_RESULTS);
    const names = [...buckets.values()]
      .filter((b) => b.project === project && b.name.startsWith(prefix) && b.name > after)
      .map((b) => b.name)
      .sort();
    const page = names.slice(0, max).map((name) => representation(buckets.get(name), baseUrl(req)));
    const more = names.length > max;
    res.json({ kind: "storage#buckets", ...(more ? { nextPageToken: names[max - 1] } : {}), ...(page.length > 0 ? { items: page } : {}) });
  }));

  // buckets.get: GET /storage/v1/b/<bucket>[?ifMetagenerationMatch|NotMatch]
  router.get("/storage/v1/b/:bucket", handle((req, res) => {
    const bucket = existing(req.params.bucket);
    checkPreconditions(bucket, req.query, "GET");
    res.json(representation(bucket, baseUrl(req)));
  }));

  // buckets.patch: PATCH /storage/v1/b/<bucket>[?ifMetagenerationMatch|NotMatch], a merge of the body.
  router.patch("/storage/v1/b/:bucket", json, handle((req, res) => {
    const bucket = existing(req.params.bucket);
    checkPreconditions(bucket, req.query, "PATCH");
    const next = patched(bucket, req.body);
    buckets.set(bucket.name, next);
    res.json(representation(next, baseUrl(req)));
  }));

  // buckets.delete: DELETE /storage/v1/b/<bucket>; refused while the emulator holds an object in it.
  router.delete("/storage/v1/b/:bucket", handle(async (req, res) => {
    const name = req.params.bucket;
    await oneAtATime(`bucket ${name}`, async () => {
      checkPreconditions(existing(name), req.query, "DELETE");
      const listing = await emulator.adminStorageLayer.listObjects({ bucketId: name, prefix: "", delimiter: "", maxResults: 1 });
      if ((listing.items ?? []).length > 0) throw errors.notEmpty();
      buckets.delete(name);
    });
    res.status(204).end();
  }));

  // Any other request that names a bucket of objects: the bucket must exist, or (first-use) comes into being.
  router.use((req, res, next) => {
    const about = BUCKET_OF_OBJECTS.exec(req.path);
    if (!about) return next();
    const name = decodeURIComponent(about[1]);
    if (buckets.has(name)) return next();
    if (mode === "api") {
      req.resume();
      sendError(res, errors.notFound());
      return;
    }
    try {
      buckets.set(name, newBucket({ name }, project));
    } catch (err) {
      // Not a bucket name: the emulator answers as it does.
      if (!(err instanceof ApiError)) throw err;
    }
    next();
  });

  // A body that is not JSON: the API's 400 parseError.
  router.use((err, req, res, next) => {
    if (err && err.type === "entity.parse.failed") return sendError(res, errors.parseError());
    next(err);
  });
  return router;
}

module.exports = { bucketApi };
