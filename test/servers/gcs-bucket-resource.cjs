// The bucket resource of the Cloud Storage JSON API (storage#bucket) as the
// test shim in front of the firebase Storage emulator keeps it (see
// gcs-buckets.cjs for the routes, gcs-emulator.cjs for the server), and the
// JSON API's error answers. Written from the API reference
// (https://cloud.google.com/storage/docs/json_api/v1/buckets and
// .../status-codes), not from any implementation:
// - the fields modelled: name, location (upper-cased, with its locationType),
//   storageClass, labels, versioning.enabled and iamConfiguration
//   (uniformBucketLevelAccess, its legacy twin bucketPolicyOnly, and
//   publicAccessPrevention); output-only fields (id, kind, etag,
//   metageneration, projectNumber, timeCreated, updated…) sent back by a
//   client are ignored, as the API does;
// - metageneration starts at 1 and goes up by one on every patch; the etag
//   changes with it;
// - a patch merges: a label set to null is removed, `labels: null` removes
//   them all;
// - any other field (acl, lifecycle, cors, retentionPolicy, website…) is
//   answered 501 naming the field rather than ignored: the shim does not
//   pretend to keep what it does not model.
"use strict";
const { createHash } = require("node:crypto");

/** A failure as the JSON API reports it: HTTP status, a reason and a message. */
class ApiError extends Error {
  constructor(code, reason, message) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

/** The JSON API's error body: {"error":{"code","message","errors":[{"message","domain","reason"}]}}. */
function sendError(res, err) {
  if (err.code === 304) {
    res.status(304).end();
    return;
  }
  res.status(err.code).json({ error: { code: err.code, message: err.message, errors: [{ message: err.message, domain: "global", reason: err.reason }] } });
}

const errors = {
  notFound: () => new ApiError(404, "notFound", "The specified bucket does not exist."),
  conditionNotMet: () => new ApiError(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold."),
  notModified: () => new ApiError(304, "notModified", "Not Modified"),
  notEmpty: () => new ApiError(409, "conflict", "The bucket you tried to delete is not empty."),
  alreadyOwned: () => new ApiError(409, "conflict", "Your previous request to create the named bucket succeeded and you already own it."),
  nameTaken: () =>
    new ApiError(
      409,
      "conflict",
      "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
    ),
  invalid: (message) => new ApiError(400, "invalid", message),
  required: (message) => new ApiError(400, "required", message),
  parseError: () => new ApiError(400, "parseError", "Parse Error"),
  notImplemented: (what) => new ApiError(501, "notImplemented", `test shim: ${what} is not implemented by the bucket API in front of the firebase Storage emulator`),
};

const STORAGE_CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE", "MULTI_REGIONAL", "REGIONAL", "DURABLE_REDUCED_AVAILABILITY"];
const MULTI_REGIONS = ["US", "EU", "ASIA"];
const DUAL_REGIONS = ["NAM4", "EUR4", "EUR5", "EUR7", "EUR8", "ASIA1"];
/** Fields the server sets; a client may send them back (a read-modify-write) and the API ignores them. */
const OUTPUT_ONLY = new Set(["kind", "id", "selfLink", "projectNumber", "metageneration", "etag", "timeCreated", "updated", "locationType", "owner"]);
/** Uniform bucket-level access can be turned off for 90 days after it was turned on. */
const UBLA_LOCK_MS = 90 * 24 * 60 * 60 * 1000;

const LABEL_KEY = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{Nd}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{Nd}_-]{0,63}$/u;

/** Whether `name` follows https://cloud.google.com/storage/docs/buckets#naming. */
function validName(name) {
  if (typeof name !== "string" || !/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name)) return false;
  const dotted = name.includes(".");
  if (name.length < 3 || name.length > (dotted ? 222 : 63)) return false;
  if (name.split(".").some((part) => part.length > 63)) return false;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return false;
  return !name.startsWith("goog") && !/g[o0][o0]g[l1][e3]/.test(name);
}

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/** A project's number: made up, but stable for its id, as a string like the API's. */
function projectNumber(project) {
  const hash = BigInt(`0x${createHash("sha256").update(project).digest("hex").slice(0, 15)}`);
  return String(100_000_000_000n + (hash % 900_000_000_000n));
}

/** The API's etag for a bucket: base64 of a protobuf varint of its metageneration ("CAE=" for 1). */
function etagOf(metageneration) {
  const bytes = [0x08];
  for (let n = metageneration; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      bytes.push(n);
      break;
    }
    bytes.push((n % 128) | 0x80);
  }
  return Buffer.from(bytes).toString("base64");
}

function locationType(location) {
  if (MULTI_REGIONS.includes(location)) return "multi-region";
  return DUAL_REGIONS.includes(location) ? "dual-region" : "region";
}

function storageClassOf(value) {
  const upper = typeof value === "string" ? value.toUpperCase() : "";
  if (!STORAGE_CLASSES.includes(upper)) throw errors.invalid(`Invalid storage class: ${JSON.stringify(value)}`);
  return upper;
}

/** Labels after `change` (a patch's labels, null values removing) is applied to `current`. */
function mergedLabels(current, change, patching) {
  if (change === null && patching) return {};
  if (!isObject(change)) throw errors.invalid("Invalid argument: labels must be an object of string values");
  const labels = { ...current };
  for (const [key, value] of Object.entries(change)) {
    if (value === null && patching) {
      delete labels[key];
      continue;
    }
    if (!LABEL_KEY.test(key)) throw errors.invalid(`Invalid argument: label key ${JSON.stringify(key)}`);
    if (typeof value !== "string" || !LABEL_VALUE.test(value)) throw errors.invalid(`Invalid argument: value ${JSON.stringify(value)} of label ${JSON.stringify(key)}`);
    labels[key] = value;
  }
  if (Object.keys(labels).length > 64) throw errors.invalid("Invalid argument: a bucket may have at most 64 labels");
  return labels;
}

function enabledOf(value, field) {
  if (!isObject(value) || (value.enabled !== undefined && typeof value.enabled !== "boolean")) {
    throw errors.invalid(`Invalid argument: ${field} must be an object with a boolean "enabled"`);
  }
  return value.enabled === true;
}

/** The iamConfiguration after `change`; turning uniform bucket-level access on starts its 90 days, turning it off after them is refused. */
function mergedIam(current, change, now) {
  if (!isObject(change)) throw errors.invalid("Invalid argument: iamConfiguration must be an object");
  const next = { ...current };
  const unknown = Object.keys(change).find((k) => !["uniformBucketLevelAccess", "bucketPolicyOnly", "publicAccessPrevention"].includes(k));
  if (unknown !== undefined) throw errors.notImplemented(`the bucket field iamConfiguration.${unknown}`);
  const ubla = change.uniformBucketLevelAccess !== undefined ? enabledOf(change.uniformBucketLevelAccess, "iamConfiguration.uniformBucketLevelAccess") : undefined;
  const bpo = change.bucketPolicyOnly !== undefined ? enabledOf(change.bucketPolicyOnly, "iamConfiguration.bucketPolicyOnly") : undefined;
  if (ubla !== undefined && bpo !== undefined && ubla !== bpo) {
    throw errors.invalid("Invalid argument: iamConfiguration.uniformBucketLevelAccess and bucketPolicyOnly disagree");
  }
  const enabled = ubla ?? bpo;
  if (enabled === true && !current.uniform) next.uniform = { lockedTime: new Date(now.getTime() + UBLA_LOCK_MS) };
  if (enabled === false && current.uniform) {
    if (current.uniform.lockedTime <= now) throw errors.invalid("Invalid argument: uniform bucket-level access is locked and can no longer be disabled");
    next.uniform = undefined;
  }
  if (change.publicAccessPrevention !== undefined) {
    const pap = String(change.publicAccessPrevention).toLowerCase();
    if (!["inherited", "unspecified", "enforced"].includes(pap)) throw errors.invalid(`Invalid argument: publicAccessPrevention ${JSON.stringify(change.publicAccessPrevention)}`);
    next.publicAccessPrevention = pap === "enforced" ? "enforced" : "inherited";
  }
  return next;
}

/**
 * A new bucket from an insert's body (`buckets.insert`), checked; `project`
 * is the request's `project` parameter. Throws ApiError for a bad body.
 */
function newBucket(body, project, now = new Date()) {
  if (!isObject(body)) throw errors.parseError();
  if (body.name === undefined) throw errors.required("Required");
  if (!validName(body.name)) throw errors.invalid(`Invalid bucket name: '${body.name}'`);
  const bucket = {
    name: body.name,
    project,
    location: "US",
    storageClass: "STANDARD",
    labels: {},
    versioning: undefined,
    iam: { uniform: undefined, publicAccessPrevention: "inherited" },
    metageneration: 1,
    timeCreated: now,
    updated: now,
  };
  for (const [field, value] of Object.entries(body)) {
    if (field === "name" || OUTPUT_ONLY.has(field)) continue;
    if (field === "location") {
      if (typeof value !== "string" || !/^[A-Za-z0-9-]+$/.test(value)) throw errors.invalid(`Invalid location: ${JSON.stringify(value)}`);
      bucket.location = value.toUpperCase();
    } else if (field === "storageClass") bucket.storageClass = storageClassOf(value);
    else if (field === "labels") bucket.labels = mergedLabels({}, value, false);
    else if (field === "versioning") bucket.versioning = { enabled: enabledOf(value, "versioning") };
    else if (field === "iamConfiguration") bucket.iam = mergedIam(bucket.iam, value, now);
    else throw errors.notImplemented(`the bucket field ${field}`);
  }
  return bucket;
}

/**
 * `bucket` after a patch (`buckets.patch`), checked whole before anything
 * changes; metageneration goes up by one. Name and location cannot change.
 */
function patched(bucket, body, now = new Date()) {
  if (!isObject(body)) throw errors.parseError();
  const next = { ...bucket, metageneration: bucket.metageneration + 1, updated: now };
  for (const [field, value] of Object.entries(body)) {
    if (OUTPUT_ONLY.has(field)) continue;
    if (field === "name" || field === "location") {
      const same = field === "name" ? value === bucket.name : String(value).toUpperCase() === bucket.location;
      if (!same) throw errors.notImplemented(`changing a bucket's ${field}`);
    } else if (field === "storageClass") next.storageClass = storageClassOf(value);
    else if (field === "labels") next.labels = mergedLabels(bucket.labels, value, true);
    else if (field === "versioning") next.versioning = value === null ? undefined : { enabled: enabledOf(value, "versioning") };
    else if (field === "iamConfiguration") next.iam = mergedIam(bucket.iam, value, now);
    else throw errors.notImplemented(`the bucket field ${field}`);
  }
  return next;
}

/** The bucket as the API shows it; `baseUrl` is where the request came in. */
function representation(bucket, baseUrl) {
  const uniform = bucket.iam.uniform ? { enabled: true, lockedTime: bucket.iam.uniform.lockedTime.toISOString() } : { enabled: false };
  return {
    kind: "storage#bucket",
    selfLink: `${baseUrl}/storage/v1/b/${encodeURIComponent(bucket.name)}`,
    id: bucket.name,
    name: bucket.name,
    projectNumber: projectNumber(bucket.project),
    metageneration: String(bucket.metageneration),
    location: bucket.location,
    locationType: locationType(bucket.location),
    storageClass: bucket.storageClass,
    etag: etagOf(bucket.metageneration),
    timeCreated: bucket.timeCreated.toISOString(),
    updated: bucket.updated.toISOString(),
    ...(Object.keys(bucket.labels).length > 0 ? { labels: bucket.labels } : {}),
    ...(bucket.versioning ? { versioning: bucket.versioning } : {}),
    iamConfiguration: { bucketPolicyOnly: uniform, uniformBucketLevelAccess: uniform, publicAccessPrevention: bucket.iam.publicAccessPrevention },
  };
}

/**
 * ifMetagenerationMatch / ifMetagenerationNotMatch against the bucket: 412
 * conditionNotMet when one does not hold (a GET whose NotMatch fails is 304).
 */
function checkPreconditions(bucket, query, method) {
  const current = String(bucket.metageneration);
  for (const name of ["ifMetagenerationMatch", "ifMetagenerationNotMatch"]) {
    const value = query[name];
    if (value !== undefined && (typeof value !== "string" || !/^\d+$/.test(value))) throw errors.invalid(`Invalid value for ${name}: ${JSON.stringify(value)}`);
  }
  if (query.ifMetagenerationMatch !== undefined && String(Number(query.ifMetagenerationMatch)) !== current) throw errors.conditionNotMet();
  if (query.ifMetagenerationNotMatch !== undefined && String(Number(query.ifMetagenerationNotMatch)) === current) {
    throw method === "GET" ? errors.notModified() : errors.conditionNotMet();
  }
}

module.exports = { ApiError, sendError, errors, newBucket, patched, representation, checkPreconditions };
