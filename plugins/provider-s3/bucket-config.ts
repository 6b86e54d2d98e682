// An s3.bucket's configuration, checked against S3's own rules before any
// call, so that `wfctl plan` (not a half-done apply) reports a bad name or tag:
// CONFIG_INVALID naming the field.
import { ErrorCode, type JsonObject, WfctlError } from "../sdk/index.js";

/** The settable fields of an s3.bucket, typed. */
export interface BucketConfig {
  bucket: string;
  versioning: boolean;
  tags: Record<string, string>;
  forceDestroy: boolean;
}

/** S3's limits on bucket tags. */
const MAX_TAGS = 50;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 256;

function invalid(resource: string, field: string, message: string): WfctlError {
  return new WfctlError(ErrorCode.CONFIG_INVALID, `${resource}: field "${field}" ${message}`, { details: [{ field, message }] });
}

/** Why `name` is not a general-purpose bucket name S3 accepts, or undefined when it is one. */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return `must be 3 to 63 characters long, got ${name.length}`;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return "may hold only lowercase letters, digits, dots and hyphens, and must begin and end with a letter or digit";
  if (name.includes("..")) return "must not hold two dots in a row";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return "must not look like an IP address";
  const prefix = ["xn--", "sthree-", "amzn-s3-demo-"].find((p) => name.startsWith(p));
  if (prefix !== undefined) return `must not start with "${prefix}" (reserved by S3)`;
  const suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].find((s) => name.endsWith(s));
  if (suffix !== undefined) return `must not end with "${suffix}" (reserved by S3)`;
  return undefined;
}

function tagsOf(resource: string, value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(resource, "tags", "must be a map of strings");
  const tags = Object.entries(value as Record<string, unknown>);
  if (tags.length > MAX_TAGS) throw invalid(resource, "tags", `may hold at most ${MAX_TAGS} tags, got ${tags.length}`);
  const out: Record<string, string> = {};
  for (const [key, tag] of tags) {
    const field = `tags.${key}`;
    if (key.length === 0 || key.length > MAX_TAG_KEY) throw invalid(resource, field, `has a key of ${key.length} characters: tag keys are 1 to ${MAX_TAG_KEY} characters`);
    if (key.toLowerCase().startsWith("aws:")) throw invalid(resource, field, 'uses the prefix "aws:", which AWS reserves for its own tags');
    if (typeof tag !== "string") throw invalid(resource, field, `must be a string, got ${JSON.stringify(tag)}`);
    if (tag.length > MAX_TAG_VALUE) throw invalid(resource, field, `is ${tag.length} characters long: tag values are at most ${MAX_TAG_VALUE}`);
    out[key] = tag;
  }
  return out;
}

/** The configuration typed and checked (defaults are already filled in by the SDK). */
export function bucketConfig(resource: string, config: JsonObject): BucketConfig {
  const bucket = config["bucket"];
  if (typeof bucket !== "string") throw invalid(resource, "bucket", "is required: the name of the bucket");
  const problem = bucketNameProblem(bucket);
  if (problem !== undefined) throw invalid(resource, "bucket", `"${bucket}" is not a valid bucket name: it ${problem}`);
  return {
    bucket,
    versioning: config["versioning"] === true,
    tags: tagsOf(resource, config["tags"]),
    forceDestroy: config["force_destroy"] === true,
  };
}
