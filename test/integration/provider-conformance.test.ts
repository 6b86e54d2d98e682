// The provider conformance kit against the shipped local provider, run as a
// real plugin process and reached over gRPC as the daemon reaches it: every
// check for local.file, local.sensitive_file and local.directory in a
// temporary root, which the kit leaves empty.
import { readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PluginCatalog, builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { PluginSupervisor } from "../../daemon/supervisor/supervisor.js";
import type { CreatedResource } from "../../plugins/conformance/provider.js";
import { describeProviderConformance } from "../../plugins/conformance/vitest.js";
import { IaCDriftDetector, IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { tempDir } from "../helpers/paths.js";
import { quiet } from "../helpers/supervisors.js";

const dir = tempDir("wft-pconf-");
afterAll(() => dir.cleanup());

/** Deletes the file or directory behind the provider's back; a missing one is an error (the id must be its path). */
const removePath = ({ providerId }: CreatedResource) => rm(providerId, { recursive: true });

describeProviderConformance("local", {
  resources: {
    "local.file": {
      name: "conf-file",
      create: (name) => ({ path: `${name}.txt`, content: "one\n" }),
      update: (name) => ({ path: `${name}.txt`, content: "two\n", mode: "0600" }),
      replace: (name) => ({ path: `${name}-moved.txt`, content: "two\n", mode: "0600" }),
      outOfBandDelete: removePath,
    },
    "local.sensitive_file": {
      name: "conf-secret",
      create: (name) => ({ path: `${name}.key`, content: "s3cret" }),
      update: (name) => ({ path: `${name}.key`, content: "rotated" }),
      replace: (name) => ({ path: `${name}-moved.key`, content: "rotated" }),
      outOfBandDelete: removePath,
    },
    "local.directory": {
      name: "conf-dir",
      create: (name) => ({ path: name }),
      update: (name) => ({ path: name, mode: "0700", force_destroy: true }),
      replace: (name) => ({ path: `${name}-moved`, mode: "0700" }),
      outOfBandDelete: removePath,
    },
  },
  async connect() {
    const supervisor = new PluginSupervisor(new PluginCatalog(builtinPlugins()), quiet);
    const instance = await supervisor.acquire(supervisor.catalog.get("provider", "local"), "conformance", async () => {});
    return {
      provider: instance.client(IaCProvider),
      driftDetector: instance.serves(IaCDriftDetector) ? instance.client(IaCDriftDetector) : undefined,
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
