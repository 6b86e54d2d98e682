// Entry point of the wfctl-state-gcs plugin executable: backend "gcs", state
// in a Google Cloud Storage bucket.
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { gcsSettings } from "./settings.js";
import { GcsStateStore } from "./store.js";

await serve({
  name: "gcs",
  version: WFCTL_VERSION,
  description: "State in a Google Cloud Storage bucket",
  stateBackend: {
    backends: ["gcs"],
    open: (request, ctx) => GcsStateStore.open(gcsSettings(request.config, request.workingDir), request.namespace, ctx),
  },
});
