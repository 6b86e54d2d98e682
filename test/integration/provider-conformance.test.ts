// The provider conformance kit against the shipped local provider, run as a
// real plugin process and reached over gRPC as the daemon reaches it: every
// check for local.file, local.sensitive_file and local.directory in a
// temporary root, which the kit leaves empty. Each type can be changed out of
// band too (a file rewritten, a directory's mode changed): the config-drift check.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PluginCatalog, builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import { describeProviderConformance } from "../../plugins/conformance/vitest.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { localResources } from "../helpers/local-kit.js";
import { tempDir } from "../helpers/paths.js";
import { quiet } from "../helpers/supervisors.js";

const dir = tempDir("wft-pconf-");
afterAll(() => dir.cleanup());

describeProviderConformance("local", {
  resources: localResources,
  async connect() {
    const supervisor = new PluginSupervisor(new PluginCatalog(builtinPlugins()), quiet);
    const instance = await supervisor.acquire(supervisor.catalog.get("provider", "local"), "conformance", async () => {});
    return {
      provider: instance.client(IaCProvider),
      driftDetector: instance.serves(IaCDriftDetector) ? instance.client(IaCDriftDetector) : undefined,
      controller: instance.client(PluginController),
      config: { root: "managed" },
      workingDir: dir.path,
      close: () => supervisor.stopAll(),
    };
  },
});

describe("after the provider conformance kit", () => {
  it("nothing is left under the provider root: every check deleted what it created", () => {
    expect(readdirSync(join(dir.path, "managed"))).toEqual([]);
  });
});
