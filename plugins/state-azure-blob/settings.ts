// The azure_blob backend's settings: the iac.state module's config, checked
// field by field. Secrets never appear in the configuration: an account key,
// a SAS token or a connection string is named by the environment variable
// holding it (*_env), and read here, inside the plugin, from the plugin's own
// environment (the daemon's, plus the plugin spec's env).
import { BlobServiceClient, StorageSharedKeyCredential, type StoragePipelineOptions } from "@azure/storage-blob";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import type { JsonObject } from "../../proto/json.js";

/** Where an error about the configuration comes from. */
const WHERE = "azure_blob state backend";

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

function invalid(field: string, message: string): WfctlError {
  const text = `field "config.${field}" ${message}`;
  return new WfctlError(ErrorCode.CONFIG_INVALID, `${WHERE}: ${text}`, { details: [{ message: text, field: `config.${field}` }] });
}

function str(config: JsonObject, key: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "") throw invalid(key, "must be a non-empty string");
  return value;
}

function fromEnv(field: string, name: string, env: NodeJS.ProcessEnv): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw invalid(field, `must name an environment variable, got "${name}"`);
  const value = env[name];
  if (value === undefined || value === "") {
    throw invalid(field, `names the environment variable ${name}, which is not set in the plugin's environment (the daemon's environment, plus the plugin's declared env)`);
  }
  return value;
}

/** A blob endpoint URL: http(s), no credentials, no query (a SAS belongs in sas_token_env). */
function accountUrlOf(field: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(field, `must be a URL like https://ACCOUNT.blob.core.windows.net, got "${value}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw invalid(field, `must be an http or https URL, got "${url.protocol}"`);
  if (url.search !== "" || url.username !== "" || url.password !== "") {
    // Never echo it: the query may be a SAS token.
    throw invalid(field, "must not carry credentials or a query string: put a SAS token in an environment variable and name it with sas_token_env");
  }
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
  for (const key of Object.keys(config)) {
    const instead = LITERAL_SECRETS[key];
    if (instead !== undefined) {
      throw invalid(key, `is refused: secrets are never written in the configuration; put it in an environment variable and name it with ${instead}`);
    }
    if (!(KNOWN as readonly string[]).includes(key)) {
      const text = `unknown field "config.${key}" (known: ${KNOWN.join(", ")})`;
      throw new WfctlError(ErrorCode.CONFIG_INVALID, `${WHERE}: ${text}`, { details: [{ message: text, field: `config.${key}` }] });
    }
  }

  const container = str(config, "container");
  if (container === undefined) throw invalid("container", "is required: the name of the blob container holding the state");
  if (!CONTAINER_NAME.test(container)) throw invalid("container", `must be a container name (3-63 lower-case letters, digits and single hyphens), got "${container}"`);

  const prefixValue = config["prefix"];
  if (prefixValue !== undefined && prefixValue !== null && typeof prefixValue !== "string") throw invalid("prefix", "must be a string");
  const prefix = typeof prefixValue === "string" ? prefixValue : DEFAULT_PREFIX;
  if (prefix.startsWith("/")) throw invalid("prefix", `must not start with "/", got "${prefix}"`);
  if (prefix.length > 512) throw invalid("prefix", "must be at most 512 characters (blob names are at most 1024)");

  const create = config["create_container"];
  if (create !== undefined && create !== null && typeof create !== "boolean") throw invalid("create_container", "must be true or false");

  const accountUrlSetting = str(config, "account_url");
  const accountName = str(config, "account_name");
  const keyEnv = str(config, "account_key_env");
  const sasEnv = str(config, "sas_token_env");
  const connectionEnv = str(config, "connection_string_env");
  if (accountName !== undefined && !ACCOUNT_NAME.test(accountName)) {
    throw invalid("account_name", `must be a storage account name (3-24 lower-case letters and digits), got "${accountName}"`);
  }

  let accountUrl: string;
  let credential: AzureCredentialSource;
  let secrets: string[] = [];
  if (connectionEnv !== undefined) {
    // A connection string carries both the endpoint and the credential.
    for (const other of ["account_url", "account_name", "account_key_env", "sas_token_env"]) {
      if (config[other] !== undefined) throw invalid(other, "cannot be combined with connection_string_env (the connection string names the account and its credential)");
    }
    const connectionString = fromEnv("connection_string_env", connectionEnv, env);
    secrets = connectionStringSecrets(connectionString);
    try {
      const url = new URL(BlobServiceClient.fromConnectionString(connectionString).url);
      accountUrl = `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
    } catch {
      // The parser's message may quote the string: say only which variable is wrong.
      throw invalid("connection_string_env", `names the environment variable ${connectionEnv}, which does not hold a valid Azure Storage connection string`);
    }
    credential = { kind: "connection_string", env: connectionEnv, connectionString };
  } else {
    if (accountUrlSetting !== undefined) accountUrl = accountUrlOf("account_url", accountUrlSetting);
    else if (accountName !== undefined) accountUrl = `https://${accountName}.blob.core.windows.net`;
    else throw invalid("account_url", "is required (or connection_string_env): the storage account's blob endpoint, like https://ACCOUNT.blob.core.windows.net");
    if (keyEnv !== undefined && sasEnv !== undefined) throw invalid("sas_token_env", "cannot be combined with account_key_env: declare one credential");
    if (keyEnv !== undefined) {
      if (accountName === undefined) throw invalid("account_name", "is required with account_key_env (a shared key signs requests as that account)");
      const accountKey = fromEnv("account_key_env", keyEnv, env);
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(accountKey)) throw invalid("account_key_env", `names the environment variable ${keyEnv}, which does not hold a base64 account key`);
      secrets = [accountKey];
      credential = { kind: "shared_key", env: keyEnv, accountName, accountKey };
    } else if (sasEnv !== undefined) {
      const token = fromEnv("sas_token_env", sasEnv, env).replace(/^\?/, "");
      secrets = [token];
      credential = { kind: "sas", env: sasEnv, token };
    } else {
      credential = { kind: "default" };
    }
  }
  return { container, prefix, createContainer: create === true, accountUrl, credential, secrets };
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
