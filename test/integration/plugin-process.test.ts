// startPlugin, the conformance kits' way to reach a plugin: it starts the
// executable as wfctld does, says who the plugin is, gives its state store
// over gRPC, stops its whole process group, and a plugin that fails to start
// is refused with its own last words, leaving nothing running.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startPlugin, startStateStore } from "../../plugins/conformance/plugin-process.js";
import { sampleState } from "../../plugins/conformance/state-backend.js";
import { ErrorCode } from "../../proto/errors.js";
import { rejectionOf, thrownBy } from "../helpers/errors.js";
import { FIXTURE_PLUGINS, tempDir } from "../helpers/paths.js";
import { isAlive, waitFor } from "../helpers/processes.js";

const live = () => ({ signal: new AbortController().signal });

describe("startPlugin", () => {
  it("starts a state-backend plugin, says who it is, and serves its store over gRPC, configured once as wfctld configures a process", async () => {
    const plugin = await startPlugin({ source: join(FIXTURE_PLUGINS, "memory-state.mjs") });
    try {
      expect(plugin.info).toMatchObject({ name: "fixture-memory", version: "1.0.0", stateBackends: ["fixture-memory"] });
      const store = await plugin.stateStore({ backend: "fixture-memory", namespace: "a" });
      await store.saveState(sampleState("r1"), live());
      expect(await store.getState("r1", live())).toEqual(sampleState("r1"));
      // One Configure per process: another store is another plugin.
      const again = await rejectionOf(plugin.stateStore({ backend: "fixture-memory", namespace: "b" }));
      expect(again.code).toBe(ErrorCode.FAILED_PRECONDITION);
      expect(again.message).toContain("is configured already: wfctld configures each plugin process once");
      // It serves no provider: the provider kit cannot be pointed at it.
      const err = thrownBy(() => plugin.provider({ config: {}, workingDir: "/" }));
      expect(err.code).toBe(ErrorCode.PLUGIN_INCOMPATIBLE);
      expect(err.message).toContain("does not serve wfctl.plugin.v1.IaCProvider");
      // Closing the store stops its plugin.
      const pid = plugin.pid as number;
      await store.close();
      expect(isAlive(pid)).toBe(false);
    } finally {
      await plugin.stop();
    }
  });

  it("startStateStore gives each store a plugin process of its own", async () => {
    const command = { source: join(FIXTURE_PLUGINS, "memory-state.mjs") };
    const first = await startStateStore(command, { backend: "fixture-memory", namespace: "a" });
    const second = await startStateStore(command, { backend: "fixture-memory", namespace: "a" });
    try {
      await first.saveState(sampleState("r1"), live());
      expect(await second.listStates({}, live())).toEqual([]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
    const refused = await rejectionOf(startStateStore(command, { backend: "no-such-backend", namespace: "a" }));
    expect(refused.code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it("stop() ends the plugin and every process it started, one that ignores SIGTERM included", async () => {
    const dir = tempDir("wft-startplugin-");
    try {
      const pidFile = join(dir.path, "pids.jsonl");
      const plugin = await startPlugin({ source: join(FIXTURE_PLUGINS, "spawns-grandchild.mjs"), env: { GRANDCHILD_PID_FILE: pidFile } });
      const started = JSON.parse(readFileSync(pidFile, "utf8")) as { plugin: number; children: number[] };
      expect(started.plugin).toBe(plugin.pid);
      expect(started.children.every(isAlive)).toBe(true);
      await plugin.stop();
      expect(isAlive(started.plugin)).toBe(false);
      await waitFor(() => !started.children.some(isAlive), 5_000, "the plugin's children to be gone");
    } finally {
      dir.cleanup();
    }
  });

  it("refuses a plugin that dies before its handshake, quoting its stderr, and leaves nothing running", async () => {
    const err = await rejectionOf(startPlugin({ source: join(FIXTURE_PLUGINS, "crash-before-handshake.mjs") }));
    expect(err.code).toBe(ErrorCode.PLUGIN_HANDSHAKE_FAILED);
    expect(err.message).toMatch(/plugin .*crash-before-handshake\.mjs \(pid \d+\) exited with code 3 before completing its handshake/);
    expect(err.message).toContain("fatal: credentials file /nonexistent/credentials is missing");
    const pid = Number(/\(pid (\d+)\)/.exec(err.message)?.[1]);
    expect(isAlive(pid)).toBe(false);
  });

  it("refuses an executable that cannot be started, naming it", async () => {
    const err = await rejectionOf(startPlugin({ source: "/nonexistent/wfctl-plugin" }));
    expect(err.code).toBe(ErrorCode.PLUGIN_HANDSHAKE_FAILED);
    expect(err.message).toContain("plugin /nonexistent/wfctl-plugin could not be started: spawn /nonexistent/wfctl-plugin ENOENT");
  });
});
