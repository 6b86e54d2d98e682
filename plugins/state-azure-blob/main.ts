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
  stateBackend: {
    backends: ["azure_blob"],
    // Settings are checked (and credentials resolved) before any request; the container is checked here too.
    open: async (request, ctx) => AzureBlobStateStore.open(azureBlobSettings(request.config), request.namespace, ctx),
  },
});
