// A provider's close() hook: what configure() made is released before the
// process exits, however it is told to stop (SIGTERM, the host's Shutdown
// call), and when a later Configure replaces it. Real plugin processes.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startPlugin } from "../../plugins/conformance/plugin-process.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { encodeJson } from "../../proto/json.js";
import { FIXTURE_PLUGINS, tempDir } from "../helpers/paths.js";

const source = join(FIXTURE_PLUGINS, "closes.mjs");

describe("a provider's close()", () => {
  it("runs on SIGTERM, with what configure() returned, before the process exits", async () => {
    const dir = tempDir("wft-close-");
    try {
      const plugin = await startPlugin({ source });
      const marker = join(dir.path, "closed");
      await plugin.client(IaCProvider).configure({ configJson: encodeJson({ marker }), workingDir: dir.path });
      const pid = plugin.pid as number;
      expect(existsSync(marker)).toBe(false);
      await plugin.stop();
      expect(readFileSync(marker, "utf8")).toBe(`closed by pid ${pid}`);
    } finally {
      dir.cleanup();
    }
  });

  it("runs on the host's Shutdown call, and for a value a later Configure replaced", async () => {
    const dir = tempDir("wft-close-");
    try {
      const plugin = await startPlugin({ source });
      const pid = plugin.pid as number;
      const [first, second] = [join(dir.path, "first"), join(dir.path, "second")];
      const provider = plugin.client(IaCProvider);
      await provider.configure({ configJson: encodeJson({ marker: first }), workingDir: dir.path });
      await provider.configure({ configJson: encodeJson({ marker: second }), workingDir: dir.path });
      expect(readFileSync(first, "utf8")).toBe(`closed by pid ${pid}`);
      expect(existsSync(second)).toBe(false);
      await plugin.client(PluginController).shutdown({});
      await plugin.waitForExit();
      expect(readFileSync(second, "utf8")).toBe(`closed by pid ${pid}`);
      await plugin.stop();
    } finally {
      dir.cleanup();
    }
  });
});
