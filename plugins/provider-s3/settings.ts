// The s3 provider's own settings (the iac.provider module's config): where the
// buckets live and whose credentials to use. Credentials are named, never
// written: the module names environment variables (or a profile), and the
// plugin reads them from its own environment.
import type { FieldMap, JsonObject } from "../sdk/index.js";
import { BackendConfig } from "../sdk/backend-config.js";

/** Where the credentials come from. */
export type S3Credentials =
  | { kind: "env"; accessKeyId: string; secretAccessKey: string; sessionToken?: string; names: string[] }
  | { kind: "profile"; profile: string }
  | { kind: "default" };

/** What Configure settled, before any client exists. */
export interface S3ProviderSettings {
  /** Undefined: the AWS SDK's region chain, else us-east-1. */
  region?: string;
  /** An S3-compatible store (DigitalOcean Spaces, MinIO); undefined: AWS S3. */
  endpoint?: URL;
  forcePathStyle: boolean;
  credentials: S3Credentials;
}

/** Literal credentials people write, and the *_env field to use instead. */
const LITERAL_SECRETS = {
  access_key_id: "access_key_id_env",
  secret_access_key: "secret_access_key_env",
  session_token: "session_token_env",
} as const;

const refused = (instead: string) => `Never set: a literal credential is refused; name the environment variable holding it with ${instead}.`;

/** Fields of the provider's configuration, as GetSchema declares them. */
export const PROVIDER_CONFIG: FieldMap = {
  region: { type: "string", description: "Region of the buckets (us-east-1, nyc3, ...). Unset: AWS_REGION / the profile's region, else us-east-1." },
  endpoint: {
    type: "string",
    description: "URL of an S3-compatible store (https://nyc3.digitaloceanspaces.com, http://localhost:9000). Unset: AWS S3.",
  },
  force_path_style: { type: "bool", default: false, description: "Address buckets as <endpoint>/<bucket> instead of <bucket>.<endpoint> (MinIO usually needs it)." },
  access_key_id_env: { type: "string", description: "Name of the environment variable holding the access key id." },
  secret_access_key_env: { type: "string", description: "Name of the environment variable holding the secret access key." },
  session_token_env: { type: "string", description: "Name of the environment variable holding a session token (temporary credentials)." },
  profile: { type: "string", description: "Shared config/credentials profile to use instead of *_env. Neither: the AWS SDK's default chain." },
  // Declared so that a literal credential gets the refusal naming its *_env field, not "unknown field".
  access_key_id: { type: "any", description: refused("access_key_id_env") },
  secret_access_key: { type: "any", sensitive: true, description: refused("secret_access_key_env") },
  session_token: { type: "any", sensitive: true, description: refused("session_token_env") },
};

const KNOWN = Object.keys(PROVIDER_CONFIG).filter((key) => !(key in LITERAL_SECRETS));

/** Reads and checks the settings; every problem is CONFIG_INVALID naming `config.<field>`. */
export function s3ProviderSettings(config: JsonObject, env: NodeJS.ProcessEnv = process.env): S3ProviderSettings {
  const cfg = new BackendConfig("s3 provider", config, KNOWN, LITERAL_SECRETS, env);
  const region = cfg.string("region");
  if (region !== undefined && !/^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(region)) {
    throw cfg.invalid("region", `must be a region name such as us-east-1 or nyc3, got "${region}"`);
  }
  const endpoint = cfg.url("endpoint", "https://nyc3.digitaloceanspaces.com");
  return {
    ...(region !== undefined ? { region } : {}),
    ...(endpoint !== undefined ? { endpoint } : {}),
    forcePathStyle: cfg.boolean("force_path_style", false),
    credentials: credentialsOf(cfg),
  };
}

/** Environment variables, a profile, or the SDK's chain: one way, checked whole. */
function credentialsOf(cfg: BackendConfig): S3Credentials {
  const named = { key: cfg.string("access_key_id_env"), secret: cfg.string("secret_access_key_env"), token: cfg.string("session_token_env") };
  const profile = cfg.string("profile");
  if (named.key === undefined && named.secret === undefined && named.token === undefined) {
    return profile !== undefined ? { kind: "profile", profile } : { kind: "default" };
  }
  if (profile !== undefined) throw cfg.invalid("profile", "cannot be combined with the *_env credential fields: choose one way to find credentials");
  if (named.key === undefined) throw cfg.invalid("access_key_id_env", "is required with secret_access_key_env and session_token_env");
  if (named.secret === undefined) throw cfg.invalid("secret_access_key_env", "is required with access_key_id_env");
  const token = named.token !== undefined ? cfg.secretNamed("session_token_env", named.token) : undefined;
  return {
    kind: "env",
    accessKeyId: cfg.secretNamed("access_key_id_env", named.key),
    secretAccessKey: cfg.secretNamed("secret_access_key_env", named.secret),
    ...(token !== undefined ? { sessionToken: token } : {}),
    names: [named.key, named.secret, ...(named.token !== undefined ? [named.token] : [])],
  };
}
