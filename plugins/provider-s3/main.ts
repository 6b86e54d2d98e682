// Entry point of the wfctl-provider-s3 plugin executable: buckets in AWS S3 or
// an S3-compatible store (DigitalOcean Spaces, MinIO).
import { serve } from "../sdk/index.js";
import { WFCTL_VERSION } from "../../proto/versions.js";
import { s3Provider } from "./provider.js";

await serve({
  name: "s3",
  version: WFCTL_VERSION,
  description: "Buckets in AWS S3 or an S3-compatible object store",
  // What the AWS SDK reads: credentials, region, profile and config files, endpoints, retries.
  readsEnv: ["AWS_*", "NODE_EXTRA_CA_CERTS"],
  provider: s3Provider,
});
