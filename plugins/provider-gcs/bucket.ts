// gcs.bucket: a Cloud Storage bucket, with its location, default storage
// class, object versioning, labels and uniform bucket-level access. Deleting refuses a bucket that holds
// objects unless force_destroy is set, which deletes every object and every
// noncurrent version first.
import type { BucketMetadata } from "@google-cloud/storage";
import { inParallel } from "../sdk/store-kit.js";
import {
  type AppliedResource,
  type CallContext,
  ErrorCode,
  type FieldMap,
  type JsonObject,
  type PlanResult,
  type ReadResult,
  type ResourceType,
  WfctlError,
  planFromSchema,
} from "../sdk/index.js";
import { type GcsClient, httpStatus, serverMessage } from "./client.js";
import { type BucketSpec, bucketSpec, describe } from "./rules.js";

/** Objects deleted at once when emptying a bucket for force_destroy. */
const DELETE_CONCURRENCY = 16;
const LIST_PAGE_SIZE = 1000;
/** Objects named when refusing to delete a bucket that is not empty. */
const SHOWN_OBJECTS = 5;
/** Read-then-patch rounds tried while the bucket keeps changing between the read and the patch. */
const PATCH_ATTEMPTS = 3;

const FIELDS: FieldMap = {
  name: { type: "string", required: true, forceNew: true, description: "The bucket's globally unique name (3-63 lower-case letters, digits, \"-\", \"_\"; up to 222 with dots)." },
  location: { type: "string", default: "US", forceNew: true, description: "Where the data lives: a multi-region (US, EU, ASIA), a dual-region (NAM4) or a region (us-central1)." },
  storage_class: { type: "string", default: "STANDARD", description: "The default storage class of new objects: STANDARD, NEARLINE, COLDLINE or ARCHIVE." },
  versioning: { type: "bool", default: false, description: "Keep noncurrent versions of overwritten and deleted objects." },
  labels: { type: "map", default: {}, description: "Labels: keys and values of lower-case letters, digits, \"_\" and \"-\" (at most 63 characters; keys start with a letter); at most 64." },
  uniform_bucket_level_access: {
    type: "bool",
    default: false,
    description: "Uniform bucket-level access: IAM alone grants access to the objects (no object ACLs). It can be turned off only within 90 days of turning it on.",
  },
  force_destroy: { type: "bool", default: false, description: "On delete, delete every object and noncurrent version first; otherwise deleting a bucket that holds objects is refused." },
  url: { type: "string", computed: true, description: "gs://<name>." },
  self_link: { type: "string", computed: true, description: "The bucket's JSON API URL." },
  project_number: { type: "string", computed: true, description: "The number of the project that owns the bucket, when the server says." },
};

/** Outputs of a bucket as the server describes it. */
function outputsOf(name: string, metadata: BucketMetadata): JsonObject {
  return {
    name,
    url: `gs://${name}`,
    ...(metadata.selfLink ? { self_link: metadata.selfLink } : {}),
    ...(metadata.projectNumber !== undefined && metadata.projectNumber !== "" ? { project_number: String(metadata.projectNumber) } : {}),
  };
}

/** The server's value when it differs from what was configured other than by letter case, else the configured spelling (GCS upper-cases locations). */
function asConfigured(configured: unknown, actual: string | undefined): string | undefined {
  return typeof configured === "string" && actual !== undefined && configured.toUpperCase() === actual.toUpperCase() ? configured : actual;
}

/** Whether two label maps hold the same labels. */
function sameLabels(a: Record<string, string | null>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** The bucket's metadata, or undefined when the server says it does not exist. */
async function metadataOf(client: GcsClient, name: string, what: string, ctx: CallContext): Promise<BucketMetadata | undefined> {
  const step = { what, doing: `reading bucket "${name}"`, operation: "bucket metadata", request: `GET /storage/v1/b/${name}` };
  try {
    const [metadata] = await client.call(ctx, step, () => client.storage.bucket(name).getMetadata());
    return metadata;
  } catch (err) {
    if (httpStatus(err) !== 404) throw err;
    // A 404 that speaks of an object answers another request than the one
    // sent (the firebase Storage emulator routes GET /storage/v1/b/<bucket>
    // to its object download): it says nothing about the bucket, and taking
    // it for a ghost would prune a bucket that exists.
    if (/no such object/i.test(serverMessage(err))) {
      throw new WfctlError(
        ErrorCode.UNSUPPORTED,
        `${what}: ${step.doing} at ${client.target}: the server does not implement ${step.operation}: ${step.request} answered 404 about an object ("${serverMessage(err)}"), not about the bucket`,
        { cause: err },
      );
    }
    return undefined;
  }
}

async function create(client: GcsClient, spec: BucketSpec, what: string, ctx: CallContext): Promise<AppliedResource> {
  const step = { what, doing: `creating bucket "${spec.name}" in ${spec.location}`, operation: "bucket creation", request: "POST /storage/v1/b" };
  try {
    const [created] = await client.call(ctx, step, () =>
      client.storage.createBucket(spec.name, {
        location: spec.location,
        storageClass: spec.storageClass,
        versioning: { enabled: spec.versioning },
        labels: spec.labels,
        iamConfiguration: { uniformBucketLevelAccess: { enabled: spec.uniformAccess } },
      }),
    );
    return { providerId: spec.name, outputs: outputsOf(spec.name, created.metadata) };
  } catch (err) {
    if (httpStatus(err) !== 409) throw err;
    throw new WfctlError(
      ErrorCode.ALREADY_EXISTS,
      `${what}: bucket "${spec.name}" already exists (${serverMessage(err)}). Bucket names are global across Google Cloud: choose another name, or delete the existing bucket if it is yours`,
      { cause: err },
    );
  }
}

/** The patch that makes `current` what `spec` asks for: only what differs. */
function patchFor(current: BucketMetadata, spec: BucketSpec): BucketMetadata {
  const patch: BucketMetadata = {};
  if (current.storageClass !== spec.storageClass) patch.storageClass = spec.storageClass;
  if ((current.versioning?.enabled === true) !== spec.versioning) patch.versioning = { enabled: spec.versioning };
  const labels = current.labels ?? {};
  if (!sameLabels(labels, spec.labels)) {
    // A patch merges labels: one that is no longer wanted is removed by setting it to null.
    patch.labels = { ...Object.fromEntries(Object.keys(labels).map((k) => [k, null])), ...spec.labels };
  }
  if ((current.iamConfiguration?.uniformBucketLevelAccess?.enabled === true) !== spec.uniformAccess) {
    patch.iamConfiguration = { uniformBucketLevelAccess: { enabled: spec.uniformAccess } };
  }
  return patch;
}

/**
 * Reads the bucket and patches what differs, on condition that nobody
 * changed it since the read (ifMetagenerationMatch): the patch is computed
 * from that read (the labels it removes above all). When the condition
 * fails, reads again and starts over: someone changed the bucket, or this
 * patch was applied and its answer lost, and the next read shows which.
 */
async function update(client: GcsClient, spec: BucketSpec, bucket: string, what: string, ctx: CallContext): Promise<AppliedResource> {
  for (let attempt = 1; ; attempt++) {
    const current = await metadataOf(client, bucket, what, ctx);
    if (current === undefined) {
      throw new WfctlError(ErrorCode.NOT_FOUND, `${what}: bucket "${bucket}" no longer exists at ${client.target}: it was deleted outside wfctl (see \`wfctl infra drift\`)`);
    }
    const patch = patchFor(current, spec);
    if (Object.keys(patch).length === 0) return { providerId: bucket, outputs: outputsOf(bucket, current) };
    const step = { what, doing: `updating bucket "${bucket}" (${Object.keys(patch).join(", ")})`, operation: "bucket updates", request: `PATCH /storage/v1/b/${bucket}` };
    const condition = current.metageneration !== undefined ? { ifMetagenerationMatch: current.metageneration } : {};
    try {
      const [updated] = await client.call(ctx, step, () => client.storage.bucket(bucket).setMetadata(patch, condition));
      return { providerId: bucket, outputs: outputsOf(bucket, updated) };
    } catch (err) {
      if (httpStatus(err) !== 412) throw err;
      if (attempt === PATCH_ATTEMPTS) {
        throw new WfctlError(
          ErrorCode.FAILED_PRECONDITION,
          `${what}: bucket "${bucket}" changed between each of ${PATCH_ATTEMPTS} reads and the patch that followed (HTTP 412: ${serverMessage(err)}); something else is updating it: run the apply again once it stops`,
          { cause: err },
        );
      }
    }
  }
}

/**
 * Deletes every object and noncurrent version, a page at a time, until a
 * listing comes back empty; fails rather than loop when a version it
 * deleted is listed again.
 */
async function empty(client: GcsClient, bucket: string, what: string, ctx: CallContext): Promise<void> {
  const handle = client.storage.bucket(bucket);
  const deleted = new Set<string>();
  for (;;) {
    const listing = { what, doing: `listing the objects of bucket "${bucket}" to empty it (force_destroy)`, operation: "object listing", request: `GET /storage/v1/b/${bucket}/o` };
    // Always the first page: what the last round deleted is gone from it.
    const [files] = await client.call(ctx, listing, () => handle.getFiles({ versions: true, autoPaginate: false, maxResults: LIST_PAGE_SIZE }));
    if (files.length === 0) return;
    const again = files.find((f) => deleted.has(`${f.name}#${f.generation}`));
    if (again !== undefined) {
      throw new WfctlError(ErrorCode.PROVIDER_ERROR, `${what}: emptying bucket "${bucket}" at ${client.target}: object "${again.name}" (generation ${again.generation}) is still listed after it was deleted`);
    }
    await inParallel(files, DELETE_CONCURRENCY, ctx, (file) => {
      deleted.add(`${file.name}#${file.generation}`);
      const step = { what, doing: `deleting object "${file.name}" (generation ${file.generation}) of bucket "${bucket}"`, operation: "object deletion", request: `DELETE /storage/v1/b/${bucket}/o/<object>` };
      return client.call(ctx, step, () => file.delete({ ignoreNotFound: true }));
    });
  }
}

/** The first objects of a bucket, for the refusal to delete it. */
async function someObjects(client: GcsClient, bucket: string, what: string, ctx: CallContext): Promise<string[]> {
  const step = { what, doing: `listing the objects of bucket "${bucket}"`, operation: "object listing", request: `GET /storage/v1/b/${bucket}/o` };
  const [files] = await client.call(ctx, step, () => client.storage.bucket(bucket).getFiles({ versions: true, autoPaginate: false, maxResults: SHOWN_OBJECTS + 1 }));
  return files.map((f) => f.name);
}

async function remove(client: GcsClient, bucket: string, forceDestroy: boolean, what: string, ctx: CallContext): Promise<void> {
  try {
    if (forceDestroy) await empty(client, bucket, what, ctx);
    const step = { what, doing: `deleting bucket "${bucket}"`, operation: "bucket deletion", request: `DELETE /storage/v1/b/${bucket}` };
    await client.call(ctx, step, () => client.storage.bucket(bucket).delete({ ignoreNotFound: true }));
  } catch (err) {
    const status = httpStatus(err);
    // Already gone (the listing of a missing bucket is a 404 too): done.
    if (status === 404) return;
    if (status !== 409) throw err;
    const names = await someObjects(client, bucket, what, ctx);
    const shown = names.slice(0, SHOWN_OBJECTS).join(", ") + (names.length > SHOWN_OBJECTS ? ", …" : "");
    throw new WfctlError(
      ErrorCode.FAILED_PRECONDITION,
      `${what}: bucket "${bucket}" is not empty (${shown || serverMessage(err)}); ` +
        "delete those objects, or set force_destroy: true to delete every object and version with the bucket",
      { cause: err },
    );
  }
}

/** The checked configuration; a create also needs the provider's project. */
function checked(config: JsonObject, what: string, client: GcsClient, creating: boolean): BucketSpec {
  const spec = bucketSpec(config, what);
  if (creating && client.settings.projectId === undefined) {
    throw new WfctlError(
      ErrorCode.CONFIG_INVALID,
      `${what}: cannot be created: the gcs provider's field "config.project_id" is not set, and new buckets need the project they belong to; set project_id on the iac.provider module`,
    );
  }
  return spec;
}

export const bucketResource: ResourceType<GcsClient> = {
  description: "A Cloud Storage bucket: location, default storage class, object versioning, labels and uniform bucket-level access.",
  fields: FIELDS,
  async plan({ resource, config, prior, provider }): Promise<PlanResult> {
    checked(config, describe(resource.name), provider, prior === undefined);
    return planFromSchema(config, prior, FIELDS);
  },
  create: ({ resource, config, provider }, ctx) => create(provider, checked(config, describe(resource.name), provider, true), describe(resource.name), ctx),
  update: ({ resource, config, prior, provider }, ctx) =>
    update(provider, checked(config, describe(resource.name), provider, false), prior.providerId, describe(resource.name), ctx),
  async read({ resource, prior, provider }, ctx): Promise<ReadResult> {
    // No id: a create whose outcome was never learned; the bucket is named by its configuration.
    const bucket = prior.providerId || String(prior.config["name"] ?? "");
    const metadata = await metadataOf(provider, bucket, describe(resource.name), ctx);
    if (metadata === undefined) return { found: false };
    return {
      found: true,
      providerId: bucket,
      config: {
        name: metadata.name ?? bucket,
        location: asConfigured(prior.config["location"], metadata.location) ?? prior.config["location"] ?? null,
        storage_class: metadata.storageClass ?? null,
        versioning: metadata.versioning?.enabled === true,
        labels: Object.fromEntries(Object.entries(metadata.labels ?? {}).filter(([, v]) => v !== null)) as JsonObject,
        uniform_bucket_level_access: metadata.iamConfiguration?.uniformBucketLevelAccess?.enabled === true,
        // Not the server's: how wfctl deletes the bucket.
        force_destroy: prior.config["force_destroy"] ?? false,
      },
      outputs: outputsOf(bucket, metadata),
    };
  },
  delete: ({ resource, prior, provider }, ctx) => remove(provider, prior.providerId, prior.config["force_destroy"] === true, describe(resource.name), ctx),
};
