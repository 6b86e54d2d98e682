// A plugin's output is bounded (issue 17, items 13 and 15): a plugin writing
// 200 MB on stdout without a newline (where its handshake line belongs) fails
// its handshake at once, naming the plugin, and the daemon does not grow by
// what it wrote (it grew by 220 MB); 200 MB on stderr without a newline is
// kept as one line cut at 16 KiB with a marker, and `plugins logs` works
// (it was one 200 MB line, the daemon at 871 MB); a handshake naming a socket
// that is not there fails naming the plugin and the line it sent. Real CLI,
// real daemon, real plugin processes (test/fixtures/plugins/noisy.mjs),
// declared in wfctl.yaml and locked as a project would.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { status } from "../faults/fuzz-wire.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";

const INFRA = `modules:
  - name: state
    type: iac.state
    config: { backend: memory }
  - name: files
    type: iac.provider
    config: { provider: slowfs, root: out }
  - name: a
    type: slowfs.file
    provider: files
    config: { path: a.txt, content: "a" }
`;

const MB = 1024 * 1024;

describe("plugin output, bounded", () => {
  const sandbox = cliSandbox("wft-noisy-");

  /** A project whose plugin is noisy.mjs, locked while it behaves; then set to `mode`. Returns its infra.yaml. */
  const project = async (name: string, mode: string): Promise<string> => {
    const dir = join(sandbox.dir, name);
    mkdirSync(dir);
    writeFileSync(join(dir, "noisy-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "noisy.mjs"))};\n`);
    writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./noisy-plugin.mjs\n");
    writeFileSync(join(dir, "infra.yaml"), INFRA);
    writeFileSync(join(dir, "noisy.mode"), "serve");
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", join(dir, "infra.yaml")]), 0);
    writeFileSync(join(dir, "noisy.mode"), mode);
    return join(dir, "infra.yaml");
  };

  beforeAll(async () => {
    expectExit(await sandbox.cli.run(["daemon", "start"]), 0);
  });

  it("a plugin writing 200 MB on stdout without a newline fails its handshake at once, naming the plugin, and the daemon does not grow by it", { timeout: 120_000 }, async () => {
    const config = await project("stdout", "stdout-flood");
    const before = await status(sandbox.cli.socket);
    const started = Date.now();
    const result = await sandbox.cli.run(["infra", "plan", "-c", config]);
    const ms = Date.now() - started;
    const after = await status(sandbox.cli.socket);
    console.log(`stdout flood: plan failed after ${ms} ms; daemon RSS ${Math.round(before.rss / MB)} -> ${Math.round(after.rss / MB)} MiB`);
    expectExit(result, 4);
    expect(result.stderr).toMatch(/plugin "slowfs" \(pid \d+\) \(\S+\) wrote more than 65536 bytes to stdout without a newline instead of its handshake line \(it began "x{200}"\)/);
    // It failed on the 64 KiB, not on the 15 s handshake timeout.
    expect(ms).toBeLessThan(12_000);
    expect(after.pid).toBe(before.pid);
    // 200 MB kept would show; a bounded read keeps 64 KiB (RSS also moves with the allocator: 100 MiB of room).
    expect(after.rss - before.rss).toBeLessThan(100 * MB);
  });

  it("a plugin writing 200 MB on stderr without a newline: one line cut at 16 KiB with a marker, plugins logs works, and the daemon does not grow by it", { timeout: 120_000 }, async () => {
    const config = await project("stderr", "stderr-flood");
    const before = await status(sandbox.cli.socket);
    const result = await sandbox.cli.run(["infra", "plan", "-c", config]);
    const after = await status(sandbox.cli.socket);
    console.log(`stderr flood: daemon RSS ${Math.round(before.rss / MB)} -> ${Math.round(after.rss / MB)} MiB`);
    expectExit(result, 0);
    expect(after.rss - before.rss).toBeLessThan(100 * MB);
    const logs = await sandbox.cli.run(["plugins", "logs", "slowfs", "--json", "--tail", "200"]);
    expectExit(logs, 0);
    const lines = logs.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { source: string; line: string });
    const flood = lines.filter((l) => l.line.startsWith("xxxx"));
    // One line (compared by its length and end: a 16 KiB string in a failure message helps no one).
    expect(flood.map((l) => [l.source, l.line.length, l.line.slice(16 * 1024 - 3)])).toEqual([["stderr", 16 * 1024 + 41, `xxx … [line truncated: ${200 * MB - 16 * 1024} more bytes]`]]);
    expect(lines.map((l) => l.line)).toContain("after the flood");
    // The whole answer is the size of the lines kept, not of what was written.
    expect(logs.stdout.length).toBeLessThan(1 * MB);
  });

  it("a handshake naming a socket that does not exist fails naming the plugin and the line it sent", async () => {
    const config = await project("missing", "missing-socket");
    const result = await sandbox.cli.run(["infra", "plan", "-c", config]);
    expectExit(result, 4);
    expect(result.stderr).toMatch(/plugin "slowfs" \(pid \d+\): its handshake line "1\|1\|unix\|\/nonexistent-wfctl\/plugin\.sock\|grpc" names the socket \/nonexistent-wfctl\/plugin\.sock, which does not exist/);
    expect(result.stderr).not.toContain("Resolution note");
    expect(result.stderr).not.toContain("No connection established");
  });
});
