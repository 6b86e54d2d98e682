// The azure provider's own settings (the iac.provider module's config): which
// storage account, and how to authenticate to it. Secrets are named, never
// written: an account key, SAS token or connection string is read from the
// environment variable a *_env field names, in the plugin's own environment.
// Account and credential resolution is the azure_blob state backend's
// (plugins/state-azure-blob/settings.ts), so both plugins accept the same
// settings and say the same things about them.
import type { BlobServiceClient } from "@azure/storage-blob";
import { BackendConfig } from "../sdk/backend-config.js";
import { type FieldMap, type JsonObject, WfctlError } from "../sdk/index.js";
import { type AzureBlobSettings, azureBlobSettings, serviceClient } from "../state-azure-blob/settings.js";

/** Fields of the provider's configuration, as GetSchema declares them. */
export const PROVIDER_CONFIG: FieldMap = {
  account_url: {
    type: "string",
    description: "The account's blob endpoint (https://ACCOUNT.blob.core.windows.net; Azurite: http://127.0.0.1:PORT/devstoreaccount1), without a query string. Unset: from account_name.",
  },
  account_name: { type: "string", description: "The storage account name; required with account_key_env." },
  account_key_env: { type: "string", description: "Name of an environment variable holding the account key (shared-key authentication)." },
  sas_token_env: { type: "string", description: "Name of an environment variable holding a SAS token (with or without its leading ?)." },
  connection_string_env: {
    type: "string",
    description: "Name of an environment variable holding a connection string; it names the account and its credential, so it replaces the fields above.",
  },
  // Declared only so that a literal secret reaches the check that refuses it, naming the *_env field to use.
  account_key: { type: "any", sensitive: true, description: "Never set: refused; name the variable holding the key with account_key_env." },
  sas_token: { type: "any", sensitive: true, description: "Never set: refused; name the variable holding the token with sas_token_env." },
  connection_string: { type: "any", sensitive: true, description: "Never set: refused; name the variable holding it with connection_string_env." },
};

const WHERE = "azure provider";
const LITERAL_SECRETS: Readonly<Record<string, string>> = {
  account_key: "account_key_env",
  sas_token: "sas_token_env",
  connection_string: "connection_string_env",
};
const KNOWN = Object.keys(PROVIDER_CONFIG).filter((field) => LITERAL_SECRETS[field] === undefined);
/** azure_blob's settings also want a container; the provider's containers are its resources, so any valid name does. */
const NO_CONTAINER = "unused";

/** A configured storage account: a client, and how messages name it without a secret. */
export interface AzureAccount {
  service: BlobServiceClient;
  /** The blob endpoint, without credential or query: the start of every provider id. */
  accountUrl: string;
  /** Values that must never reach a message. */
  secrets: readonly string[];
}

/**
 * Reads and checks the settings; every problem is CONFIG_INVALID naming
 * `config.<field>`, and no message quotes a secret.
 */
export function accountSettings(config: JsonObject, env: NodeJS.ProcessEnv = process.env): AzureBlobSettings {
  // Unknown keys and literal secrets are refused here, by this plugin's own list of fields.
  const cfg = new BackendConfig(WHERE, config, KNOWN, LITERAL_SECRETS, env);
  const declared = Object.fromEntries(Object.entries(config).filter(([, value]) => value !== null));
  try {
    return azureBlobSettings({ ...declared, container: NO_CONTAINER }, env);
  } catch (err) {
    // The same problem, said as this plugin's: the detail holds the text without the state backend's name.
    const detail = err instanceof WfctlError ? err.details[0] : undefined;
    if (!(err instanceof WfctlError) || detail === undefined) throw err;
    throw new WfctlError(err.code, `${cfg.where}: ${detail.message}`, { details: err.details });
  }
}

/** The account's client, with the declared credential (DefaultAzureCredential when none is declared). */
export async function connectAccount(settings: AzureBlobSettings): Promise<AzureAccount> {
  return { service: await serviceClient(settings), accountUrl: settings.accountUrl, secrets: settings.secrets };
}
