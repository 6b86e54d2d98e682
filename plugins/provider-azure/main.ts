// Entry point of the wfctl-provider-azure plugin executable.
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { azureProvider } from "./provider.js";

await serve({
  name: "azure",
  version: WFCTL_VERSION,
  description: "Azure Blob Storage containers",
  // What the Azure SDK reads: DefaultAzureCredential (AZURE_*, managed
  // identity endpoints, Azure Pipelines OIDC), logging, proxies.
  readsEnv: [
    "AZURE_*", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
    "DEFAULT_IDENTITY_CLIENT_ID", "SYSTEM_OIDCREQUESTURI",
    "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "NODE_EXTRA_CA_CERTS",
  ],
  provider: azureProvider,
});
