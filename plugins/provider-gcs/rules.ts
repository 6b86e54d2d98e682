// Cloud Storage's rules for what a gcs.bucket may say, checked before any
// request so that a plan, not an apply, reports a bad name or label. Every
// problem is CONFIG_INVALID naming the resource and the field.
import { ErrorCode, type JsonObject, type JsonValue, WfctlError } from "../sdk/index.js";

/** How messages name a bucket resource: `photos (gcs.bucket)`. */
export function describe(name: string): string {
  return `${name} (gcs.bucket)`;
}

/** CONFIG_INVALID: `<what>: field "<field>" <message>`, with the field in the details. */
function invalid(what: string, field: string, message: string): WfctlError {
  return new WfctlError(ErrorCode.CONFIG_INVALID, `${what}: field "${field}" ${message}`, { details: [{ field, message }] });
}

/** The storage classes a bucket's default may be (the last three are legacy, still accepted). */
const STORAGE_CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE", "MULTI_REGIONAL", "REGIONAL", "DURABLE_REDUCED_AVAILABILITY"] as const;

const MAX_LABELS = 64;
const MAX_LABEL_CHARS = 63;
// Lower-case letters (international ones too: cased lower-case, or letters without case), digits, "_" and "-".
const LABEL_CHAR = String.raw`[\p{Ll}\p{Lo}\p{Nd}_-]`;
const LABEL_KEY = new RegExp(String.raw`^[\p{Ll}\p{Lo}]${LABEL_CHAR}*$`, "u");
const LABEL_VALUE = new RegExp(`^${LABEL_CHAR}*$`, "u");

/** Why `name` cannot be a bucket name, or undefined when it can (https://cloud.google.com/storage/docs/buckets#naming). */
function bucketNameProblem(name: string): string | undefined {
  if (name.startsWith("gs://")) return `is the bucket's name alone, without "gs://"`;
  if (/[A-Z]/.test(name)) return "must be lower-case";
  if (!/^[a-z0-9._-]+$/.test(name)) return `may hold only lower-case letters, digits, "-", "_" and "."`;
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return "must start and end with a letter or a digit";
  const dotted = name.includes(".");
  if (name.length < 3 || name.length > (dotted ? 222 : 63)) return `must be 3 to 63 characters long (222 with dots), got ${name.length}`;
  if (name.split(".").some((part) => part.length > 63)) return "may have at most 63 characters between dots";
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return "must not be an IP address";
  if (name.startsWith("goog")) return `must not start with "goog"`;
  if (/g[o0][o0]g[l1][e3]/.test(name)) return `must not contain "google" or a look-alike such as "g00gle"`;
  return undefined;
}

function labelProblem(key: string, value: JsonValue | undefined): string | undefined {
  if (!LABEL_KEY.test(key)) return `key "${key}" must start with a lower-case letter and hold only lower-case letters, digits, "_" and "-"`;
  if ([...key].length > MAX_LABEL_CHARS) return `key "${key}" must be at most ${MAX_LABEL_CHARS} characters long`;
  if (typeof value !== "string") return `"${key}" must have a string value, got ${JSON.stringify(value)}`;
  if (!LABEL_VALUE.test(value)) return `"${key}" has the value "${value}", which may hold only lower-case letters, digits, "_" and "-"`;
  if ([...value].length > MAX_LABEL_CHARS) return `"${key}" has a value longer than ${MAX_LABEL_CHARS} characters`;
  return undefined;
}

/** What a bucket's configuration asks for, checked. */
export interface BucketSpec {
  name: string;
  location: string;
  storageClass: string;
  versioning: boolean;
  labels: Record<string, string>;
  uniformAccess: boolean;
  forceDestroy: boolean;
}

/** Checks a gcs.bucket configuration (defaults already filled in) against Cloud Storage's rules. */
export function bucketSpec(config: JsonObject, what: string): BucketSpec {
  const name = config["name"];
  if (typeof name !== "string") throw invalid(what, "name", "is required: the bucket's globally unique name");
  const nameProblem = bucketNameProblem(name);
  if (nameProblem !== undefined) throw invalid(what, "name", `${nameProblem}, got "${name}"`);

  const location = config["location"];
  if (typeof location !== "string" || !/^[A-Za-z0-9-]{2,64}$/.test(location)) {
    throw invalid(what, "location", `must be a location such as US, EU, us-central1 or NAM4, got ${JSON.stringify(location)}`);
  }

  const storageClass = config["storage_class"];
  if (typeof storageClass !== "string" || !(STORAGE_CLASSES as readonly string[]).includes(storageClass)) {
    throw invalid(what, "storage_class", `must be one of ${STORAGE_CLASSES.join(", ")}, got ${JSON.stringify(storageClass)}`);
  }

  const labels = config["labels"] ?? {};
  if (typeof labels !== "object" || labels === null || Array.isArray(labels)) throw invalid(what, "labels", "must be a map of strings");
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw invalid(what, "labels", `may hold at most ${MAX_LABELS} labels, got ${entries.length}`);
  for (const [key, value] of entries) {
    const problem = labelProblem(key, value);
    if (problem !== undefined) throw invalid(what, "labels", problem);
  }

  return {
    name,
    location,
    storageClass,
    versioning: config["versioning"] === true,
    labels: Object.fromEntries(entries) as Record<string, string>,
    uniformAccess: config["uniform_bucket_level_access"] === true,
    forceDestroy: config["force_destroy"] === true,
  };
}
