// The azure provider: Azure Blob Storage containers of one storage account,
// through @azure/storage-blob, with the credential the provider's settings
// declare (read from the plugin's environment, never from the configuration).
import { defineProvider } from "../sdk/index.js";
import { type AzureAccount, PROVIDER_CONFIG, accountSettings, connectAccount } from "./account.js";
import { containerResource } from "./container.js";
import { azureError, isServiceError } from "./errors.js";

/**
 * Permission errors that still prove the credential authenticates: it may not
 * list containers, yet manage the ones it is allowed to (a narrow SAS, a role
 * scoped to some containers).
 */
const AUTHENTICATED_BUT_NOT_ALLOWED = ["AuthorizationPermissionMismatch", "AuthorizationResourceTypeMismatch"];

export const azureProvider = defineProvider<AzureAccount>({
  config: PROVIDER_CONFIG,
  async configure(config, { signal }) {
    const settings = accountSettings(config);
    const account = await connectAccount(settings).catch((err: unknown) => {
      throw azureError(err, `azure provider: connecting to ${settings.accountUrl}`, settings.secrets, signal);
    });
    // A wrong endpoint or key fails here, once, rather than in every resource call.
    try {
      await account.service.listContainers({ abortSignal: signal }).byPage({ maxPageSize: 1 }).next();
    } catch (err) {
      if (!signal.aborted && AUTHENTICATED_BUT_NOT_ALLOWED.some((code) => isServiceError(err, 403, code))) return account;
      throw azureError(err, `azure provider: checking the storage account ${account.accountUrl}`, account.secrets, signal);
    }
    return account;
  },
  resources: {
    "azure.container": containerResource,
  },
  classifiesDrift: true,
});
