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
  // What the Google Cloud client libraries read: credentials (ADC), project,
  // the emulator, metadata-server detection, runtime detection, proxies.
  readsEnv: [
    "GOOGLE_*", "GCLOUD_*", "CLOUDSDK_CONFIG", "STORAGE_EMULATOR_HOST", "GCE_METADATA_*", "METADATA_SERVER_DETECTION", "DETECT_GCP_RETRIES",
    "K_SERVICE", "K_CONFIGURATION", "CLOUD_RUN_JOB", "FUNCTION_NAME", "FUNCTION_TARGET", "GAE_SERVICE", "GAE_MODULE_NAME",
    "google_application_credentials", "google_cloud_project", "gcloud_project",
    "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "NODE_EXTRA_CA_CERTS",
  ],
  stateBackend: {
    backends: ["gcs"],
    open: (request, ctx) => GcsStateStore.open(gcsSettings(request.config, request.workingDir), request.namespace, ctx),
  },
});
