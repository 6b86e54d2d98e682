// The s3 backend's settings: the iac.state module's config (minus `backend`),
// checked whole before anything is contacted. Credentials are named, never
// written: the module names environment variables (or a profile), and the
// plugin reads them from its own environment.
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { JsonObject } from "../../proto/json.js";

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

const WHERE = "s3 state backend";

function invalid(field: string, message: string): WfctlError {
  const text = `${WHERE}: field "config.${field}" ${message}`;
  return new WfctlError(ErrorCode.CONFIG_INVALID, text, { details: [{ message: text, field: `config.${field}` }] });
}

function str(config: JsonObject, key: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "") throw invalid(key, "must be a non-empty string");
  return value;
}

function bool(config: JsonObject, key: string, fallback: boolean): boolean {
  const value = config[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") throw invalid(key, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function fromEnv(key: string, name: string, env: NodeJS.ProcessEnv): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw invalid(key, `must name an environment variable, got "${name}"`);
  const value = env[name];
  if (value === undefined || value === "") {
    throw invalid(key, `names the environment variable ${name}, which is not set in the plugin's environment (the daemon's, plus the plugin's env in wfctl.yaml)`);
  }
  return value;
}

/** Reads and checks the settings; every problem is CONFIG_INVALID naming the field. */
export function s3Settings(config: JsonObject, env: NodeJS.ProcessEnv = process.env): S3Settings {
  for (const key of Object.keys(config)) {
    const instead = LITERAL_SECRETS[key];
    if (instead !== undefined) {
      throw invalid(key, `is refused: credentials are never written in the configuration; put the value in an environment variable and name it with ${instead}`);
    }
    if (!(KNOWN as readonly string[]).includes(key)) {
      const text = `${WHERE}: unknown field "config.${key}" (known: ${KNOWN.join(", ")})`;
      throw new WfctlError(ErrorCode.CONFIG_INVALID, text, { details: [{ message: text, field: `config.${key}` }] });
    }
  }

  const bucket = str(config, "bucket");
  if (bucket === undefined) throw invalid("bucket", "is required: the name of the bucket holding the state");
  if (/[\s/]/.test(bucket)) throw invalid("bucket", `must be a bucket name (no slashes or spaces), got "${bucket}"`);

  let prefix = config["prefix"] === "" ? "" : (str(config, "prefix") ?? DEFAULT_PREFIX);
  if (prefix.startsWith("/")) throw invalid("prefix", `must not start with "/" (S3 keys have no leading slash), got "${prefix}"`);
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";

  const region = str(config, "region");
  const endpoint = str(config, "endpoint");
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw invalid("endpoint", `must be a URL such as https://nyc3.digitaloceanspaces.com, got "${endpoint}"`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid("endpoint", `must be an http:// or https:// URL, got "${endpoint}"`);
    // Said without echoing the URL: it may hold the very secret.
    if (url.username !== "" || url.password !== "") throw invalid("endpoint", "must not carry credentials; name environment variables with access_key_id_env and secret_access_key_env");
  }

  const keyEnv = str(config, "access_key_id_env");
  const secretEnv = str(config, "secret_access_key_env");
  const tokenEnv = str(config, "session_token_env");
  const profile = str(config, "profile");
  let credentials: S3Credentials;
  if (keyEnv !== undefined || secretEnv !== undefined || tokenEnv !== undefined) {
    if (profile !== undefined) throw invalid("profile", "cannot be combined with access_key_id_env / secret_access_key_env: choose one way to find credentials");
    if (keyEnv === undefined) throw invalid("access_key_id_env", "is required with secret_access_key_env (or session_token_env)");
    if (secretEnv === undefined) throw invalid("secret_access_key_env", "is required with access_key_id_env");
    credentials = {
      kind: "env",
      accessKeyId: fromEnv("access_key_id_env", keyEnv, env),
      secretAccessKey: fromEnv("secret_access_key_env", secretEnv, env),
      ...(tokenEnv !== undefined ? { sessionToken: fromEnv("session_token_env", tokenEnv, env) } : {}),
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
    forcePathStyle: bool(config, "force_path_style", false),
    conditionalWrites: bool(config, "conditional_writes", true),
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
