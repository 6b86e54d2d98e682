// What a bucket holds, for deleting it: emptying it whole (force_destroy) and
// naming a few objects when a delete is refused.
import {
  DeleteObjectsCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type ObjectIdentifier,
} from "@aws-sdk/client-s3";
import { ErrorCode, WfctlError } from "../sdk/index.js";
import { type BucketCalls, isMissingBucket, isUnimplemented } from "./client.js";

/** Keys listed and deleted per request (the most DeleteObjects takes). */
const BATCH = 1000;

/** What a listing gives when the bucket itself is gone. */
const GONE = null;

const missing = (err: unknown) => (isMissingBucket(err) ? GONE : undefined);

/**
 * The first objects left in the bucket, every version and delete marker
 * included; GONE if the bucket is. A server that does not implement
 * ListObjectVersions keeps no versions: its current objects are all there is.
 */
async function nextBatch(calls: BucketCalls, versions: { listed: boolean }): Promise<ObjectIdentifier[] | typeof GONE> {
  const Bucket = calls.bucket;
  if (versions.listed) {
    const page = await calls.send<ListObjectVersionsCommandOutput | false | typeof GONE>("listing the object versions to delete", "ListObjectVersions", (o) => calls.client.send(new ListObjectVersionsCommand({ Bucket, MaxKeys: BATCH }), o), {
      expected: (err) => (isUnimplemented(err, "ListObjectVersions") ? false : missing(err)),
    });
    if (page === GONE) return GONE;
    if (page !== false) {
      return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].flatMap((v) => (v.Key !== undefined ? [{ Key: v.Key, ...(v.VersionId ? { VersionId: v.VersionId } : {}) }] : []));
    }
    versions.listed = false;
  }
  const page = await calls.send<ListObjectsV2CommandOutput | typeof GONE>("listing the objects to delete", "ListObjectsV2", (o) => calls.client.send(new ListObjectsV2Command({ Bucket, MaxKeys: BATCH }), o), { expected: missing });
  if (page === GONE) return GONE;
  return (page.Contents ?? []).flatMap((object) => (object.Key !== undefined ? [{ Key: object.Key }] : []));
}

/**
 * Deletes every object of the bucket, with all its versions and delete
 * markers, a batch at a time, each listing from the start (what was deleted
 * is gone from it). Returns how many it deleted, or GONE if the bucket is.
 */
export async function emptyBucket(calls: BucketCalls): Promise<number | typeof GONE> {
  const versions = { listed: true };
  let deleted = 0;
  let previous = "";
  for (;;) {
    const batch = await nextBatch(calls, versions);
    if (batch === GONE) return GONE;
    if (batch.length === 0) return deleted;
    const seen = JSON.stringify(batch);
    if (seen === previous) {
      throw new WfctlError(ErrorCode.PROVIDER_ERROR, `${calls.resource}: emptying bucket "${calls.bucket}" at ${calls.provider.where}: the server said it deleted ${batch.length} objects but still lists them`);
    }
    previous = seen;
    const result = await calls.send("deleting its objects (force_destroy)", "DeleteObjects", (o) =>
      calls.client.send(new DeleteObjectsCommand({ Bucket: calls.bucket, Delete: { Objects: batch, Quiet: true } }), o),
    );
    const errors = result.Errors ?? [];
    if (errors.length > 0) {
      const shown = errors.slice(0, 3).map((e) => `${e.Key ?? "?"}${e.VersionId ? ` (version ${e.VersionId})` : ""}: ${e.Code ?? "error"} ${e.Message ?? ""}`.trim());
      throw new WfctlError(
        ErrorCode.PROVIDER_ERROR,
        `${calls.resource}: emptying bucket "${calls.bucket}" at ${calls.provider.where} (force_destroy): ${errors.length} of ${batch.length} objects could not be deleted: ${shown.join("; ")}${errors.length > 3 ? "; …" : ""}`,
      );
    }
    deleted += batch.length;
  }
}

/** Up to `count` keys of current objects, for a message; empty when there are none (or the bucket is gone). */
export async function someKeys(calls: BucketCalls, count: number): Promise<string[]> {
  const page = await calls.send<ListObjectsV2CommandOutput | typeof GONE>("listing what it holds", "ListObjectsV2", (o) => calls.client.send(new ListObjectsV2Command({ Bucket: calls.bucket, MaxKeys: count }), o), {
    expected: missing,
  });
  return page === GONE ? [] : (page.Contents ?? []).flatMap((object) => (object.Key !== undefined ? [object.Key] : []));
}
