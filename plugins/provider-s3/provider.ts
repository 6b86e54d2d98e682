// The s3 provider: buckets in AWS S3 or an S3-compatible store (DigitalOcean
// Spaces, MinIO). Configure checks the settings and builds the client without
// contacting the store: which calls the credentials may make is per bucket,
// so each resource call reports what it could not do.
import { defineProvider } from "../sdk/index.js";
import { bucketResource } from "./bucket.js";
import { type S3Provider, connectS3 } from "./client.js";
import { PROVIDER_CONFIG, s3ProviderSettings } from "./settings.js";

/** The client the last Configure built; a new Configure replaces (and closes) it. */
let configured: S3Provider | undefined;

export const s3Provider = defineProvider<S3Provider>({
  config: PROVIDER_CONFIG,
  async configure(config, { signal }) {
    const settings = s3ProviderSettings(config);
    signal.throwIfAborted();
    const provider = await connectS3(settings);
    configured?.client.destroy();
    configured = provider;
    return provider;
  },
  resources: {
    "s3.bucket": bucketResource,
  },
  classifiesDrift: true,
});
