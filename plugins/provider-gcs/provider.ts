// The gcs provider: Cloud Storage buckets, through @google-cloud/storage, in
// its own plugin process. Configure only checks the settings: there is no
// bucket call every principal may make (listing buckets needs a permission
// a bucket manager may lack), so a wrong endpoint or key shows in the first
// resource call, whose error names the server and the credentials' source.
import { defineProvider } from "../sdk/index.js";
import { bucketResource } from "./bucket.js";
import { GcsClient } from "./client.js";
import { PROVIDER_CONFIG, providerSettings } from "./settings.js";

export const gcsProvider = defineProvider<GcsClient>({
  config: PROVIDER_CONFIG,
  configure: (config, { workingDir, signal }) => {
    signal.throwIfAborted();
    return new GcsClient(providerSettings(config, workingDir || process.cwd()));
  },
  resources: {
    "gcs.bucket": bucketResource,
  },
  classifiesDrift: true,
});
