// The gcs backend's settings: the iac.state module's config (minus `backend`),
// checked whole before anything is contacted. Credentials are named, never
// written: a service account key comes from the environment variable that
// credentials_json_env names, or from the file key_file names; with neither,
// the SDK's Application Default Credentials decide.
import { isAbsolute, resolve } from "node:path";
import type { JsonObject } from "../../proto/json.js";
import { BackendConfig } from "../sdk/backend-config.js";

/** Where the credentials come from. */
export type GcsCredentials =
  | { kind: "env"; name: string; json: Record<string, unknown> }
  | { kind: "key_file"; path: string }
  /** Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the metadata server. */
  | { kind: "default" };

export interface GcsSettings {
  bucket: string;
  /** Object-name prefix, ending in "/" unless empty. */
  prefix: string;
  projectId?: string;
  /** Another JSON API endpoint (an emulator, a private endpoint), without a trailing slash. */
  apiEndpoint?: string;
  /** Refuse servers that ignore ifGenerationMatch (true), or accept check-then-write locking (false). */
  conditionalWrites: boolean;
  credentials: GcsCredentials;
}

export const DEFAULT_PREFIX = "wfctl/";

const KNOWN = ["bucket", "prefix", "project_id", "api_endpoint", "credentials_json_env", "key_file", "conditional_writes"] as const;

/** Literal secrets people write, and the setting to use instead. */
const LITERAL_SECRETS: Readonly<Record<string, string>> = {
  credentials: "credentials_json_env",
  credentials_json: "credentials_json_env",
  private_key: "credentials_json_env",
  access_token: "credentials_json_env",
};

// Google's rule, simplified: 3-63 characters (222 with dots), lower-case letters, digits, "-", "_" and ".", starting and ending with a letter or digit.
const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/** Reads and checks the settings; `workingDir` anchors a relative key_file. Every problem is CONFIG_INVALID naming the field. */
export function gcsSettings(config: JsonObject, workingDir: string, env: NodeJS.ProcessEnv = process.env): GcsSettings {
  const c = new BackendConfig("gcs state backend", config, KNOWN, LITERAL_SECRETS, env);

  const bucket = c.string("bucket");
  if (bucket === undefined) throw c.invalid("bucket", "is required: the name of the bucket holding the state");
  if (!BUCKET_NAME.test(bucket) || (!bucket.includes(".") && bucket.length > 63)) {
    throw c.invalid("bucket", `must be a bucket name (3-63 lower-case letters, digits, "-", "_" or ".", no gs:// and no slashes), got "${bucket}"`);
  }

  let prefix = c.prefix("prefix", DEFAULT_PREFIX);
  if (prefix.startsWith("/")) throw c.invalid("prefix", `must not start with "/" (object names have no leading slash), got "${prefix}"`);
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";

  const projectId = c.string("project_id");
  const endpoint = c.url("api_endpoint", "http://127.0.0.1:9199 or https://storage.googleapis.com");

  const credentials = gcsCredentials(c, workingDir);

  return {
    bucket,
    prefix,
    ...(projectId !== undefined ? { projectId } : {}),
    ...(endpoint !== undefined ? { apiEndpoint: `${endpoint.origin}${endpoint.pathname.replace(/\/+$/, "")}` } : {}),
    conditionalWrites: c.boolean("conditional_writes", true),
    credentials,
  };
}

/**
 * Where credentials come from: credentials_json_env (a credentials JSON in
 * that variable), key_file (relative to `workingDir`), or neither
 * (Application Default Credentials). Shared with the gcs provider plugin.
 */
export function gcsCredentials(c: BackendConfig, workingDir: string): GcsCredentials {
  const fromEnv = c.secretFromEnv("credentials_json_env");
  const keyFile = c.string("key_file");
  if (fromEnv !== undefined) {
    if (keyFile !== undefined) throw c.invalid("key_file", "cannot be combined with credentials_json_env: choose one way to find credentials");
    let json: unknown;
    try {
      json = JSON.parse(fromEnv.value);
    } catch {
      // Never echo the value, nor the parser's message quoting it.
      throw c.invalid("credentials_json_env", `names the environment variable ${fromEnv.name}, which does not hold JSON (a service account key file's contents)`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json) || typeof (json as Record<string, unknown>)["type"] !== "string") {
      throw c.invalid("credentials_json_env", `names the environment variable ${fromEnv.name}, which does not hold a credentials JSON object with a "type" field`);
    }
    return { kind: "env", name: fromEnv.name, json: json as Record<string, unknown> };
  }
  if (keyFile !== undefined) return { kind: "key_file", path: isAbsolute(keyFile) ? keyFile : resolve(workingDir, keyFile) };
  return { kind: "default" };
}

/** Where the state lives, for messages (never a secret). */
export function describeSettings(settings: GcsSettings): string {
  return `gcs bucket "${settings.bucket}"${settings.apiEndpoint !== undefined ? ` at ${settings.apiEndpoint}` : ""}`;
}

/** Where the credentials came from, for messages. */
export function describeCredentials(settings: GcsSettings): string {
  const { credentials } = settings;
  switch (credentials.kind) {
    case "env":
      return `credentials from the environment variable ${credentials.name}`;
    case "key_file":
      return `credentials from the key file ${credentials.path}`;
    case "default":
      return settings.apiEndpoint !== undefined ? "no credentials (a custom endpoint gets unauthenticated requests)" : "Application Default Credentials";
  }
}
