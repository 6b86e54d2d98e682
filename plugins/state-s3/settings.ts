// The s3 backend's settings: the iac.state module's config (minus `backend`),
// checked whole before anything is contacted. Credentials are named, never
// written: the module names environment variables (or a profile), and the
// plugin reads them from its own environment.
import type { JsonObject } from "../../proto/json.js";
import { BackendConfig } from "../sdk/backend-config.js";

/** Where the credentials come from. */
export type S3Credentials =
  | { kind: "env"; accessKeyId: string; secretAccessKey: string; sessionToken?: string; names: string }
  | { kind: "profile"; profile: string }
  | { kind: "default" };

export interface S3Settings {
  bucket: string;
  /** Key prefix, ending in "/" unless empty. */
  prefix: string;
  /** Undefined: the SDK's region chain, else us-east-1. */
  region?: string;
  endpoint?: string;
  forcePathStyle: boolean;
  /** Refuse servers that ignore If-None-Match (true), or accept check-then-write locking (false). */
  conditionalWrites: boolean;
  credentials: S3Credentials;
}

export const DEFAULT_PREFIX = "wfctl/";

const KNOWN = [
  "bucket",
  "prefix",
  "region",
  "endpoint",
  "force_path_style",
  "conditional_writes",
  "access_key_id_env",
  "secret_access_key_env",
  "session_token_env",
  "profile",
] as const;

/** Literal credential keys people write, and the *_env setting to use instead. */
const LITERAL_SECRETS: Readonly<Record<string, string>> = {
  access_key_id: "access_key_id_env",
  access_key: "access_key_id_env",
  secret_access_key: "secret_access_key_env",
  secret_key: "secret_access_key_env",
  secret: "secret_access_key_env",
  session_token: "session_token_env",
};

/** Reads and checks the settings; every problem is CONFIG_INVALID naming the field. */
export function s3Settings(config: JsonObject, env: NodeJS.ProcessEnv = process.env): S3Settings {
  const cfg = new BackendConfig("s3 state backend", config, KNOWN, LITERAL_SECRETS, env);

  const bucket = cfg.string("bucket");
  if (bucket === undefined) throw cfg.invalid("bucket", "is required: the name of the bucket holding the state");
  if (/[\s/]/.test(bucket)) throw cfg.invalid("bucket", `must be a bucket name (no slashes or spaces), got "${bucket}"`);

  let prefix = cfg.prefix("prefix", DEFAULT_PREFIX);
  if (prefix.startsWith("/")) throw cfg.invalid("prefix", `must not start with "/" (S3 keys have no leading slash), got "${prefix}"`);
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";

  const region = cfg.string("region");
  const endpoint = cfg.string("endpoint");
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw cfg.invalid("endpoint", `must be a URL such as https://nyc3.digitaloceanspaces.com, got "${endpoint}"`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw cfg.invalid("endpoint", `must be an http:// or https:// URL, got "${endpoint}"`);
    // Said without echoing the URL: it may hold the very secret.
    if (url.username !== "" || url.password !== "") throw cfg.invalid("endpoint", "must not carry credentials; name environment variables with access_key_id_env and secret_access_key_env");
  }

  const keyEnv = cfg.string("access_key_id_env");
  const secretEnv = cfg.string("secret_access_key_env");
  const tokenEnv = cfg.string("session_token_env");
  const profile = cfg.string("profile");
  let credentials: S3Credentials;
  if (keyEnv !== undefined || secretEnv !== undefined || tokenEnv !== undefined) {
    if (profile !== undefined) throw cfg.invalid("profile", "cannot be combined with access_key_id_env / secret_access_key_env: choose one way to find credentials");
    if (keyEnv === undefined) throw cfg.invalid("access_key_id_env", "is required with secret_access_key_env (or session_token_env)");
    if (secretEnv === undefined) throw cfg.invalid("secret_access_key_env", "is required with access_key_id_env");
    credentials = {
      kind: "env",
      accessKeyId: cfg.secretNamed("access_key_id_env", keyEnv),
      secretAccessKey: cfg.secretNamed("secret_access_key_env", secretEnv),
      ...(tokenEnv !== undefined ? { sessionToken: cfg.secretNamed("session_token_env", tokenEnv) } : {}),
      names: [keyEnv, secretEnv, ...(tokenEnv !== undefined ? [tokenEnv] : [])].join(", "),
    };
  } else if (profile !== undefined) {
    credentials = { kind: "profile", profile };
  } else {
    credentials = { kind: "default" };
  }

  return {
    bucket,
    prefix,
    ...(region !== undefined ? { region } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle: cfg.boolean("force_path_style", false),
    conditionalWrites: cfg.boolean("conditional_writes", true),
    credentials,
  };
}

/** Where the state lives, for messages (never a secret). */
export function describeSettings(settings: S3Settings, region: string): string {
  const at = settings.endpoint !== undefined ? `endpoint ${settings.endpoint}` : "AWS S3";
  return `s3 bucket "${settings.bucket}" at ${at} (region ${region})`;
}

/** Where the credentials came from, for messages. */
export function describeCredentials(credentials: S3Credentials): string {
  switch (credentials.kind) {
    case "env":
      return `credentials from the environment variables ${credentials.names}`;
    case "profile":
      return `credentials of profile "${credentials.profile}"`;
    case "default":
      return "credentials from the AWS SDK's default chain";
  }
}
