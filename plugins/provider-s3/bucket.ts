// s3.bucket: a bucket with its versioning and tags. The bucket name is the
// provider id. A create that fails after CreateBucket removes the bucket
// again, so a failed apply leaves nothing behind; a delete refuses a bucket
// that holds objects unless force_destroy was applied.
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketTaggingCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
} from "@aws-sdk/client-s3";
import { jsonEqual } from "../../proto/json.js";
import { ErrorCode, type FieldMap, type JsonObject, type ReadResult, type ResourceRef, type ResourceType, WfctlError, planFromSchema } from "../sdk/index.js";
import { bucketConfig } from "./bucket-config.js";
import { BucketCalls, type S3Provider, isMissingBucket, isUnimplemented, sdkError } from "./client.js";
import { emptyBucket, someKeys } from "./contents.js";

/** How many emptying rounds a force_destroy delete makes while objects keep arriving. */
const EMPTY_ROUNDS = 3;
/** How long removing a half-created bucket may take once its create has failed. */
const UNDO_MS = 30_000;

const describe = (resource: ResourceRef) => `${resource.name} (s3.bucket)`;

const FIELDS: FieldMap = {
  bucket: {
    type: "string",
    required: true,
    forceNew: true,
    description: "The bucket's name: 3 to 63 lowercase letters, digits, dots and hyphens, unique in the store (in AWS, across all accounts).",
  },
  versioning: {
    type: "bool",
    default: false,
    description: "Keep every version of every object. S3 cannot make a bucket unversioned again: false on a bucket that was versioned suspends versioning (old versions stay).",
  },
  tags: { type: "map", default: {}, description: "Tags of the bucket, key to value (at most 50; keys may not start with aws:)." },
  force_destroy: {
    type: "bool",
    default: false,
    description: "Deleting the bucket first deletes every object, version and delete marker in it. Unset, a delete refuses a bucket that is not empty. Apply it before the delete.",
  },
  region: { type: "string", computed: true, description: "The region the bucket was created in." },
  arn: { type: "string", computed: true, description: "arn:aws:s3:::<bucket> (its partition's, outside aws)." },
  url: { type: "string", computed: true, description: "Base URL of the bucket's objects." },
};

/** The outputs of a bucket: where it is and how to address it. */
function outputsOf(provider: S3Provider, bucket: string): JsonObject {
  const { region, endpoint } = provider;
  const partition = region.startsWith("cn-") ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws";
  const base = endpoint ?? new URL(`https://s3.${region}.${partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com"}`);
  const path = base.pathname.replace(/\/$/, "");
  const url = provider.forcePathStyle ? `${base.origin}${path}/${bucket}` : `${base.protocol}//${bucket}.${base.host}${path}`;
  return { bucket, region, arn: `arn:${partition}:s3:::${bucket}`, url };
}

function putVersioning(calls: BucketCalls, enabled: boolean): Promise<unknown> {
  const Status = enabled ? "Enabled" : "Suspended";
  return calls.send(enabled ? "enabling versioning" : "suspending versioning", "PutBucketVersioning", (o) =>
    calls.client.send(new PutBucketVersioningCommand({ Bucket: calls.bucket, VersioningConfiguration: { Status } }), o), { field: "versioning" });
}

/** Sets the tags whole (an empty map removes them). */
function putTags(calls: BucketCalls, tags: Record<string, string>): Promise<unknown> {
  const TagSet = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  if (TagSet.length === 0) {
    return calls.send("removing the tags", "DeleteBucketTagging", (o) => calls.client.send(new DeleteBucketTaggingCommand({ Bucket: calls.bucket }), o), { field: "tags" });
  }
  return calls.send("setting the tags", "PutBucketTagging", (o) => calls.client.send(new PutBucketTaggingCommand({ Bucket: calls.bucket, Tagging: { TagSet } }), o), {
    field: "tags",
  });
}

/**
 * Whether versioning is on (Suspended and never-enabled both read false);
 * null when the bucket is gone. A server that does not implement versioning
 * keeps no versions: false.
 */
async function readVersioning(calls: BucketCalls): Promise<boolean | null> {
  const status = await calls.send<string | null>(
    "reading versioning",
    "GetBucketVersioning",
    async (o) => (await calls.client.send(new GetBucketVersioningCommand({ Bucket: calls.bucket }), o)).Status ?? "",
    { field: "versioning", expected: (err) => (isMissingBucket(err) ? null : isUnimplemented(err, "GetBucketVersioning") ? "" : undefined) },
  );
  return status === null ? null : status === "Enabled";
}

/** The tags ({} for none, and on a server that does not implement bucket tags); null when the bucket is gone. */
async function readTags(calls: BucketCalls): Promise<Record<string, string> | null> {
  const set = await calls.send(
    "reading the tags",
    "GetBucketTagging",
    async (o) => (await calls.client.send(new GetBucketTaggingCommand({ Bucket: calls.bucket }), o)).TagSet ?? [],
    {
      field: "tags",
      expected: (err) => (isMissingBucket(err) ? null : sdkError(err).name === "NoSuchTagSet" || isUnimplemented(err, "GetBucketTagging") ? [] : undefined),
    },
  );
  return set === null ? null : Object.fromEntries(set.map((tag) => [tag.Key ?? "", tag.Value ?? ""]));
}

/**
 * Whether the bucket is there. With `deniedIsAbsent`, a 403 (another
 * account's bucket, or no permission to look) answers false, and
 * CreateBucket then tells which.
 */
function exists(calls: BucketCalls, doing: string, deniedIsAbsent = false): Promise<boolean> {
  return calls.send(doing, "HeadBucket", async (o) => (await calls.client.send(new HeadBucketCommand({ Bucket: calls.bucket }), o), true), {
    expected: (err) => (isMissingBucket(err) || (deniedIsAbsent && sdkError(err).status === 403) ? false : undefined),
  });
}

/** Removes the bucket a failed create made; returns the error to throw, saying whether that worked. */
async function undoCreate(calls: BucketCalls, err: unknown): Promise<unknown> {
  const undo = new BucketCalls(calls.provider, calls.resource, calls.bucket, AbortSignal.timeout(UNDO_MS));
  let outcome = "it was removed again";
  try {
    await undo.send("removing the half-created bucket", "DeleteBucket", (o) => undo.client.send(new DeleteBucketCommand({ Bucket: undo.bucket }), o));
  } catch (undoErr) {
    outcome = `it was created, and removing it again failed (${undoErr instanceof Error ? undoErr.message : String(undoErr)}): delete it by hand`;
  }
  if (!(err instanceof WfctlError)) return err;
  return new WfctlError(err.code, `${err.message}; ${outcome}`, { cause: err.cause, details: err.details });
}

async function create(resource: ResourceRef, config: JsonObject, provider: S3Provider, signal: AbortSignal) {
  const who = describe(resource);
  const desired = bucketConfig(who, config);
  const calls = new BucketCalls(provider, who, desired.bucket, signal);
  // us-east-1 answers CreateBucket of a bucket you own with 200: look first, so a bucket is never adopted (or removed by a failed create).
  if (await exists(calls, "checking that the name is free", true)) {
    throw new WfctlError(
      ErrorCode.ALREADY_EXISTS,
      `${who}: bucket "${desired.bucket}" already exists at ${provider.where}, reachable with ${provider.credentials}; wfctl creates buckets and does not adopt them: choose another name, or delete that bucket`,
      { details: [{ field: "bucket", message: "already exists" }] },
    );
  }
  const location = provider.region !== "us-east-1" ? { CreateBucketConfiguration: { LocationConstraint: provider.region as BucketLocationConstraint } } : {};
  await calls.send("creating", "CreateBucket", (o) => calls.client.send(new CreateBucketCommand({ Bucket: desired.bucket, ...location }), o), {
    expected: (err) => {
      const { name } = sdkError(err);
      if (name === "BucketAlreadyExists" || name === "BucketAlreadyOwnedByYou") {
        throw new WfctlError(ErrorCode.ALREADY_EXISTS, `${who}: bucket name "${desired.bucket}" is taken at ${provider.where} (${name}): bucket names are shared by every account; choose another`, {
          details: [{ field: "bucket", message: "is taken" }],
        });
      }
      return undefined;
    },
  });
  try {
    if (desired.versioning) await putVersioning(calls, true);
    if (Object.keys(desired.tags).length > 0) await putTags(calls, desired.tags);
  } catch (err) {
    throw await undoCreate(calls, err);
  }
  return { providerId: desired.bucket, outputs: outputsOf(provider, desired.bucket) };
}

async function remove(resource: ResourceRef, bucket: string, forceDestroy: boolean, provider: S3Provider, signal: AbortSignal): Promise<void> {
  const calls = new BucketCalls(provider, describe(resource), bucket, signal);
  for (let round = 1; ; round++) {
    if (forceDestroy && (await emptyBucket(calls)) === null) return;
    const outcome = await calls.send<"deleted" | "gone" | "not empty">("deleting", "DeleteBucket", async (o) => (await calls.client.send(new DeleteBucketCommand({ Bucket: bucket }), o), "deleted"), {
      expected: (err) => (isMissingBucket(err) ? "gone" : sdkError(err).name === "BucketNotEmpty" ? "not empty" : undefined),
    });
    if (outcome !== "not empty") return;
    if (forceDestroy && round < EMPTY_ROUNDS) continue;
    if (forceDestroy) {
      throw new WfctlError(ErrorCode.FAILED_PRECONDITION, `${calls.resource}: bucket "${bucket}" at ${provider.where} was emptied ${EMPTY_ROUNDS} times and still held objects: something keeps writing to it`);
    }
    const keys = await someKeys(calls, 6);
    const holds = keys.length === 0 ? "it holds only old object versions or delete markers" : `it holds ${keys.slice(0, 5).join(", ")}${keys.length > 5 ? ", …" : ""}`;
    throw new WfctlError(
      ErrorCode.FAILED_PRECONDITION,
      `${calls.resource}: bucket "${bucket}" at ${provider.where} is not empty (${holds}); delete those objects, or set force_destroy: true and apply it before deleting the bucket`,
      { details: [{ field: "force_destroy", message: "is false and the bucket is not empty" }] },
    );
  }
}

export const bucketResource: ResourceType<S3Provider> = {
  description: "A bucket in AWS S3 or an S3-compatible store, with its versioning and tags.",
  fields: FIELDS,
  async plan({ resource, config, prior }, ctx) {
    ctx.signal.throwIfAborted();
    bucketConfig(describe(resource), config);
    return planFromSchema(config, prior, FIELDS);
  },
  create: ({ resource, config, provider }, ctx) => create(resource, config, provider, ctx.signal),
  async update({ resource, config, prior, provider }, ctx) {
    const who = describe(resource);
    const desired = bucketConfig(who, config);
    const calls = new BucketCalls(provider, who, desired.bucket, ctx.signal);
    calls.signal.throwIfAborted();
    if (desired.versioning !== (prior.config["versioning"] === true)) await putVersioning(calls, desired.versioning);
    if (!jsonEqual(desired.tags, prior.config["tags"] ?? {})) await putTags(calls, desired.tags);
    return { providerId: desired.bucket, outputs: outputsOf(provider, desired.bucket) };
  },
  async read({ prior, provider, resource }, ctx): Promise<ReadResult> {
    // No id: a create whose outcome was never learned; the bucket is named by its configuration.
    const bucket = prior.providerId || String(prior.config["bucket"] ?? "");
    const calls = new BucketCalls(provider, describe(resource), bucket, ctx.signal);
    if (!(await exists(calls, "looking for it"))) return { found: false };
    const [versioning, tags] = await Promise.all([readVersioning(calls), readTags(calls)]);
    // Deleted between the calls.
    if (versioning === null || tags === null) return { found: false };
    return {
      found: true,
      providerId: bucket,
      config: { bucket, versioning, tags, force_destroy: prior.config["force_destroy"] === true },
      outputs: outputsOf(provider, bucket),
    };
  },
  delete: ({ resource, prior, provider }, ctx) => remove(resource, prior.providerId, prior.config["force_destroy"] === true, provider, ctx.signal),
};
