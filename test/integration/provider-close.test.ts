// A provider's close() hook: what configure() made is released before the
// process exits, however it is told to stop (SIGTERM, the host's Shutdown
// call, the host gone), and when a later Configure replaces it. Real plugin
// processes.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startPlugin } from "../../plugins/conformance/plugin-process.js";
import { PluginController } from "../../proto/gen/wfctl/plugin/v1/plugin_pb.js";
import { IaCProvider } from "../../proto/gen/wfctl/plugin/v1/provider_pb.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { type UnaryClient, connect, unaryClient } from "../../proto/grpc.js";
import { encodeJson } from "../../proto/json.js";
import { PLUGIN_SPAWN_OPTIONS, handshakeEnvironment, makeSocketDir, parseHandshake, readHandshake } from "../../proto/plugin-handshake.js";
import { FIXTURE_PLUGINS, tempDir } from "../helpers/paths.js";

const source = join(FIXTURE_PLUGINS, "closes.mjs");

/** Starts the fixture as wfctld would, and gives its process and a provider client: the test plays the host. */
async function startAsHost(): Promise<{ child: ChildProcess; socketDir: string; provider: UnaryClient<typeof IaCProvider>; close: () => void }> {
  const socketDir = makeSocketDir();
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== "NODE_OPTIONS"));
  const child = spawn(process.execPath, [source], { env: { ...env, ...handshakeEnvironment(socketDir) }, ...PLUGIN_SPAWN_OPTIONS });
  for (const stream of child.stdio) stream?.on("error", () => {});
  const { line } = await readHandshake(child, 15_000, (reason) => new WfctlError(ErrorCode.PLUGIN_HANDSHAKE_FAILED, `closes.mjs ${reason}`));
  const connection = connect(`unix://${parseHandshake(line, "closes.mjs").address}`);
  return { child, socketDir, provider: unaryClient(IaCProvider, connection), close: () => connection.close() };
}

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

  it("runs when the host is gone, and a write to stderr (EPIPE now) does not kill the plugin: it exits 0 and removes its socket directory", async () => {
    const dir = tempDir("wft-close-");
    try {
      const host = await startAsHost();
      const marker = join(dir.path, "closed");
      await host.provider.configure({ configJson: encodeJson({ marker }), workingDir: dir.path });
      host.close();
      const exited = once(host.child, "exit");
      // The host dies: the parent-death pipe ends, and nobody reads stdout or stderr any more.
      for (const stream of host.child.stdio.slice(1)) stream?.destroy();
      expect(await exited).toEqual([0, null]);
      expect(readFileSync(marker, "utf8")).toBe(`closed by pid ${host.child.pid}`);
      expect(existsSync(host.socketDir)).toBe(false);
    } finally {
      dir.cleanup();
    }
  });
});
