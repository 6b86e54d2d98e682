// Entry point of the wfctl-provider-gcs plugin executable.
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { gcsProvider } from "./provider.js";

await serve({
  name: "gcs",
  version: WFCTL_VERSION,
  description: "Google Cloud Storage buckets",
  provider: gcsProvider,
});
