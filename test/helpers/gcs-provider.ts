// The gcs provider plugin as its tests run it: the built bundle as a real
// process under a supervisor of the test file's own, one process per
// configuration, and prior states as the daemon sends them.
import { tmpdir } from "node:os";
import { PluginCatalog, type PluginSpec } from "../../daemon/supervisor/catalog.js";
import type { PluginInstance } from "../../daemon/supervisor/instance.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { type JsonObject, encodeJson } from "../../proto/json.js";
import { cloudPlugin } from "./paths.js";
import { quiet } from "./supervisors.js";

/** The project the tests' buckets belong to. */
export const GCS_PROJECT = "demo-wfctl";
/** The resource the tests plan and apply. */
export const BUCKET_REF = { name: "photos", type: "gcs.bucket" };

/** What the daemon records after a create: the configuration with every default filled in. */
export function appliedBucket(config: JsonObject & { name: string }): JsonObject & { name: string } {
  return { location: "US", storage_class: "STANDARD", versioning: false, labels: {}, uniform_bucket_level_access: false, force_destroy: false, ...config };
}

/** A prior state as the daemon sends it after a create of `config`. */
export function bucketPrior(config: JsonObject & { name: string }) {
  return { providerId: config.name, configJson: encodeJson(appliedBucket(config)), outputsJson: encodeJson({ name: config.name, url: `gs://${config.name}` }) };
}

/** The gcs provider's processes for one test file: `configured` starts one of its own per call (a Configure that fails leaves nothing behind). */
export class GcsProviderPlugins {
  readonly supervisor: PluginSupervisor;
  private count = 0;

  constructor(env: Record<string, string> = {}) {
    const spec: PluginSpec = { name: "gcs", kind: "provider", executable: process.execPath, args: [cloudPlugin("provider-gcs")], env, source: "test" };
    this.supervisor = new PluginSupervisor(new PluginCatalog([spec]), quiet);
  }

  configured(config: JsonObject): Promise<PluginInstance> {
    return this.supervisor.acquire(this.supervisor.catalog.get("provider", "gcs"), `gcs-${++this.count}`, async (instance) => {
      await instance.client(IaCProvider).configure({ configJson: encodeJson(config), workingDir: tmpdir() });
    });
  }

  stop(): Promise<void> {
    return this.supervisor.stopAll();
  }
}
