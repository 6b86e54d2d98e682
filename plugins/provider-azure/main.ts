// Entry point of the wfctl-provider-azure plugin executable.
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { azureProvider } from "./provider.js";

await serve({
  name: "azure",
  version: WFCTL_VERSION,
  description: "Azure Blob Storage containers",
  provider: azureProvider,
});
