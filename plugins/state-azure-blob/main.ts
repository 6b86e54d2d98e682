// Entry point of the wfctl-state-azure-blob plugin executable: serves the
// state backend "azure_blob" (state in Azure Blob Storage, locked with blob leases).
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { azureBlobSettings } from "./settings.js";
import { AzureBlobStateStore } from "./store.js";

await serve({
  name: "azure_blob",
  version: WFCTL_VERSION,
  description: "State in Azure Blob Storage, locked with infinite blob leases",
  // What the Azure SDK reads: DefaultAzureCredential (AZURE_*, managed
  // identity endpoints, Azure Pipelines OIDC), logging, proxies.
  readsEnv: [
    "AZURE_*", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT",
    "DEFAULT_IDENTITY_CLIENT_ID", "SYSTEM_OIDCREQUESTURI",
    "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "NODE_EXTRA_CA_CERTS",
  ],
  stateBackend: {
    backends: ["azure_blob"],
    // Settings are checked (and credentials resolved) before any request; the container is checked here too.
    open: async (request, ctx) => AzureBlobStateStore.open(azureBlobSettings(request.config), request.namespace, ctx),
  },
});
