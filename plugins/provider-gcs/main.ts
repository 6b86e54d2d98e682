// Entry point of the wfctl-provider-gcs plugin executable.
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { gcsProvider } from "./provider.js";

await serve({
  name: "gcs",
  version: WFCTL_VERSION,
  description: "Google Cloud Storage buckets",
  // What the Google Cloud client libraries read: credentials (ADC), project,
  // the emulator, metadata-server detection, runtime detection, proxies.
  readsEnv: [
    "GOOGLE_*", "GCLOUD_*", "CLOUDSDK_CONFIG", "STORAGE_EMULATOR_HOST", "GCE_METADATA_*", "METADATA_SERVER_DETECTION", "DETECT_GCP_RETRIES",
    "K_SERVICE", "K_CONFIGURATION", "CLOUD_RUN_JOB", "FUNCTION_NAME", "FUNCTION_TARGET", "GAE_SERVICE", "GAE_MODULE_NAME",
    "google_application_credentials", "google_cloud_project", "gcloud_project",
    "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy", "NODE_EXTRA_CA_CERTS",
  ],
  provider: gcsProvider,
});
