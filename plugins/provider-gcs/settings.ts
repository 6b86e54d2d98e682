// The gcs provider's own settings (the iac.provider module's config): which
// project new buckets belong to, which JSON API endpoint to call, and where
// the credentials come from. Credentials are named, never written: a key is
// read from the environment variable credentials_json_env names, or from the
// file key_file names; with neither, Application Default Credentials decide.
import { BackendConfig } from "../sdk/backend-config.js";
import { type GcsCredentials, gcsCredentials } from "../state-gcs/settings.js";
import { ErrorCode, type FieldMap, type JsonObject, WfctlError } from "../sdk/index.js";

/** What Configure resolved; passed to every resource handler. */
export interface GcsProviderSettings {
  /** The project new buckets are created in; unset, creating a bucket is refused. */
  projectId: string | undefined;
  /** Another JSON API endpoint (an emulator, a private endpoint), without a trailing slash; unset: Cloud Storage. */
  apiEndpoint: string | undefined;
  credentials: GcsCredentials;
}

/** Literal secrets people write, each refused in favour of the setting that names a variable. */
const LITERAL_SECRETS: Readonly<Record<string, string>> = {
  credentials: "credentials_json_env",
  credentials_json: "credentials_json_env",
  private_key: "credentials_json_env",
  access_token: "credentials_json_env",
};

const refused = (instead: string) => `Never set: a literal secret is refused; name an environment variable holding it with ${instead}.`;

/**
 * The provider configuration as GetSchema declares it. The literal-secret
 * keys are declared only so that setting one is answered by the refusal that
 * names credentials_json_env, not by "unknown field".
 */
export const PROVIDER_CONFIG: FieldMap = {
  project_id: { type: "string", description: "The project new buckets belong to. Needed to create buckets; reading, updating and deleting name the bucket alone." },
  api_endpoint: { type: "string", description: "Another JSON API endpoint (an emulator, a private endpoint), e.g. http://127.0.0.1:9199. Unset: Cloud Storage." },
  credentials_json_env: { type: "string", description: "Name of an environment variable holding a credentials JSON (service account key or external account)." },
  key_file: { type: "string", description: "Path of a credentials JSON file, relative to the configuration's directory. Not with credentials_json_env." },
  ...Object.fromEntries(Object.entries(LITERAL_SECRETS).map(([key, instead]) => [key, { type: "any", sensitive: true, description: refused(instead) }])),
};

const KNOWN = Object.keys(PROVIDER_CONFIG).filter((key) => LITERAL_SECRETS[key] === undefined);

// 6-30 characters: lower-case letters, digits and hyphens, starting with a
// letter, not ending with a hyphen; legacy domain-scoped ids carry "domain:".
const PROJECT_ID = /^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/**
 * A provider's details name fields of its own configuration; the daemon
 * prefixes them with "config." itself, so BackendConfig's prefix comes off
 * the details (the message keeps naming `config.<field>`).
 */
function forProvider(err: unknown): unknown {
  if (!(err instanceof WfctlError) || err.code !== ErrorCode.CONFIG_INVALID) return err;
  const details = err.details.map((d) => (d.field?.startsWith("config.") ? { ...d, field: d.field.slice("config.".length) } : d));
  return new WfctlError(err.code, err.message, { details });
}

/** Reads and checks the provider configuration; `workingDir` anchors a relative key_file. Problems are CONFIG_INVALID naming `config.<field>`. */
export function providerSettings(config: JsonObject, workingDir: string, env: NodeJS.ProcessEnv = process.env): GcsProviderSettings {
  try {
    const c = new BackendConfig("gcs provider", config, KNOWN, LITERAL_SECRETS, env);
    const projectId = c.string("project_id");
    if (projectId !== undefined && !PROJECT_ID.test(projectId)) {
      throw c.invalid("project_id", `must be a project ID (6-30 lower-case letters, digits and "-", starting with a letter), not a name or number, got "${projectId}"`);
    }
    const endpoint = c.url("api_endpoint", "http://127.0.0.1:9199 or https://storage.googleapis.com");
    return {
      projectId,
      apiEndpoint: endpoint === undefined ? undefined : `${endpoint.origin}${endpoint.pathname.replace(/\/+$/, "")}`,
      credentials: gcsCredentials(c, workingDir),
    };
  } catch (err) {
    throw forProvider(err);
  }
}

/** The server and the credentials, for messages (never a secret). */
export function describeTarget(settings: GcsProviderSettings): string {
  const server = settings.apiEndpoint === undefined ? "Cloud Storage" : settings.apiEndpoint;
  const { credentials } = settings;
  switch (credentials.kind) {
    case "env":
      return `${server} with credentials from the environment variable ${credentials.name}`;
    case "key_file":
      return `${server} with credentials from the key file ${credentials.path}`;
    case "default":
      return settings.apiEndpoint === undefined ? `${server} with Application Default Credentials` : `${server} without credentials`;
  }
}
