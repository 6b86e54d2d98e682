// The azure_blob backend's settings: the iac.state module's config, checked
// field by field. Secrets never appear in the configuration: an account key,
// a SAS token or a connection string is named by the environment variable
// holding it (*_env), and read here, inside the plugin, from the plugin's own
// environment (the daemon passes every variable a *_env field names).
import { BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import type { JsonObject } from "../../proto/json.js";
import { BackendConfig } from "../sdk/backend-config.js";

export const DEFAULT_PREFIX = "wfctl/";

/** How the plugin authenticates, in the order it is chosen. */
export type AzureCredentialSource =
  | { kind: "connection_string"; env: string; connectionString: string }
  | { kind: "shared_key"; env: string; accountName: string; accountKey: string }
  | { kind: "sas"; env: string; token: string }
  /** Nothing declared: DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI, …). */
  | { kind: "default" };

export interface AzureBlobSettings {
  container: string;
  /** Prepended to every blob name, as is (default "wfctl/"). */
  prefix: string;
  /** Create the container when it is missing (default false: a missing container is an error). */
  createContainer: boolean;
  /** The account's blob endpoint without any credential or query, for requests and messages. */
  accountUrl: string;
  credential: AzureCredentialSource;
  /** Secret values that must never reach a message (keys, tokens, connection strings). */
  secrets: readonly string[];
}

const KNOWN = [
  "container",
  "prefix",
  "account_url",
  "account_name",
  "account_key_env",
  "sas_token_env",
  "connection_string_env",
  "create_container",
] as const;

/** Literal secrets refused, and the *_env field to use instead. */
const LITERAL_SECRETS: Readonly<Record<string, string>> = {
  account_key: "account_key_env",
  sas_token: "sas_token_env",
  connection_string: "connection_string_env",
};

// Azure's rule: 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit.
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$|^devstoreaccount1$/;

/** An account endpoint as requests and messages use it: no trailing slash, no query. */
function endpointOf(url: URL): string {
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** Secret parts of a connection string, so that messages can redact them. */
function connectionStringSecrets(connectionString: string): string[] {
  const out = [connectionString];
  for (const part of connectionString.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    if (key === "accountkey" || key === "sharedaccesssignature") out.push(part.slice(eq + 1).trim());
  }
  return out;
}

/**
 * Reads an iac.state module's config (minus `backend`) for azure_blob. The
 * account comes from `account_url` or from the connection string named by
 * `connection_string_env`; credentials from `account_name` + `account_key_env`,
 * `sas_token_env`, or, with none declared, DefaultAzureCredential.
 */
export function azureBlobSettings(config: JsonObject, env: NodeJS.ProcessEnv = process.env): AzureBlobSettings {
  const cfg = new BackendConfig("azure_blob state backend", config, KNOWN, LITERAL_SECRETS, env);

  const container = cfg.string("container");
  if (container === undefined) throw cfg.invalid("container", "is required: the name of the blob container holding the state");
  if (!CONTAINER_NAME.test(container)) throw cfg.invalid("container", `must be a container name (3-63 lower-case letters, digits and single hyphens), got "${container}"`);

  const prefix = cfg.prefix("prefix", DEFAULT_PREFIX);
  if (prefix.startsWith("/")) throw cfg.invalid("prefix", `must not start with "/", got "${prefix}"`);
  if (prefix.length > 512) throw cfg.invalid("prefix", "must be at most 512 characters (blob names are at most 1024)");

  const createContainer = cfg.boolean("create_container", false);

  cfg.string("account_url"); // checked in turn with the others; read as a URL below
  const accountName = cfg.string("account_name");
  const keyEnv = cfg.string("account_key_env");
  const sasEnv = cfg.string("sas_token_env");
  const connectionEnv = cfg.string("connection_string_env");
  if (accountName !== undefined && !ACCOUNT_NAME.test(accountName)) {
    throw cfg.invalid("account_name", `must be a storage account name (3-24 lower-case letters and digits), got "${accountName}"`);
  }

  let accountUrl: string;
  let credential: AzureCredentialSource;
  let secrets: string[] = [];
  if (connectionEnv !== undefined) {
    // A connection string carries both the endpoint and the credential.
    for (const other of ["account_url", "account_name", "account_key_env", "sas_token_env"]) {
      if (config[other] !== undefined) throw cfg.invalid(other, "cannot be combined with connection_string_env (the connection string names the account and its credential)");
    }
    const connectionString = cfg.secretNamed("connection_string_env", connectionEnv);
    secrets = connectionStringSecrets(connectionString);
    try {
      accountUrl = endpointOf(new URL(BlobServiceClient.fromConnectionString(connectionString).url));
    } catch {
      // The parser's message may quote the string: say only which variable is wrong.
      throw cfg.invalid("connection_string_env", `names the environment variable ${connectionEnv}, which does not hold a valid Azure Storage connection string`);
    }
    credential = { kind: "connection_string", env: connectionEnv, connectionString };
  } else {
    // A blob endpoint: http(s), no credentials, no query (a SAS belongs in sas_token_env).
    const url = cfg.url("account_url", "https://ACCOUNT.blob.core.windows.net");
    if (url !== undefined) accountUrl = endpointOf(url);
    else if (accountName !== undefined) accountUrl = `https://${accountName}.blob.core.windows.net`;
    else throw cfg.invalid("account_url", "is required (or connection_string_env): the storage account's blob endpoint, like https://ACCOUNT.blob.core.windows.net");
    if (keyEnv !== undefined && sasEnv !== undefined) throw cfg.invalid("sas_token_env", "cannot be combined with account_key_env: declare one credential");
    if (keyEnv !== undefined) {
      if (accountName === undefined) throw cfg.invalid("account_name", "is required with account_key_env (a shared key signs requests as that account)");
      const accountKey = cfg.secretNamed("account_key_env", keyEnv);
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(accountKey)) throw cfg.invalid("account_key_env", `names the environment variable ${keyEnv}, which does not hold a base64 account key`);
      secrets = [accountKey];
      credential = { kind: "shared_key", env: keyEnv, accountName, accountKey };
    } else if (sasEnv !== undefined) {
      const token = cfg.secretNamed("sas_token_env", sasEnv).replace(/^\?/, "");
      secrets = [token];
      credential = { kind: "sas", env: sasEnv, token };
    } else {
      credential = { kind: "default" };
    }
  }
  return { container, prefix, createContainer, accountUrl, credential, secrets };
}

/** The SDK's retries: a few quick ones, so that an unreachable endpoint fails Configure in seconds, not minutes. */
const PIPELINE: StoragePipelineOptions = {
  retryOptions: { maxTries: 4, retryDelayInMs: 400, maxRetryDelayInMs: 4000 },
  userAgentOptions: { userAgentPrefix: "wfctl-state-azure-blob" },
};

/** A client for the account, with the declared credential (DefaultAzureCredential loaded only when used). */
export async function serviceClient(settings: AzureBlobSettings): Promise<BlobServiceClient> {
  const source = settings.credential;
  switch (source.kind) {
    case "connection_string":
      return BlobServiceClient.fromConnectionString(source.connectionString, PIPELINE);
    case "shared_key":
      return new BlobServiceClient(settings.accountUrl, new StorageSharedKeyCredential(source.accountName, source.accountKey), PIPELINE);
    case "sas":
      return new BlobServiceClient(`${settings.accountUrl}?${source.token}`, undefined, PIPELINE);
    case "default": {
      const { DefaultAzureCredential } = await import("@azure/identity");
      return new BlobServiceClient(settings.accountUrl, new DefaultAzureCredential(), PIPELINE);
    }
  }
}

/** `text` without any secret of `settings` (and without any SAS signature). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join("****");
  return out.replace(/([?&]sig=)[^&\s"']+/gi, "$1****");
}
