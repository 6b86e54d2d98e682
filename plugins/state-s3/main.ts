// Entry point of the wfctl-state-s3 plugin executable: backend "s3", state in
// AWS S3 or an S3-compatible store (DigitalOcean Spaces, MinIO).
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { s3Settings } from "./settings.js";
import { S3StateStore } from "./store.js";

await serve({
  name: "s3",
  version: WFCTL_VERSION,
  description: "State in AWS S3 or an S3-compatible object store",
  // What the AWS SDK reads: credentials, region, profile and config files, endpoints, retries.
  readsEnv: ["AWS_*", "NODE_EXTRA_CA_CERTS"],
  stateBackend: {
    backends: ["s3"],
    open: (request, ctx) => S3StateStore.open(s3Settings(request.config), request.namespace, ctx),
  },
});
