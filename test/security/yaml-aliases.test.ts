// YAML alias amplification through the real CLI and daemon (issue 17, items
// 12 and 15c): aliases are bounded by what they expand to, not only by how
// many there are (99 aliases of one large string passed, and a 5 MB file took
// 76 s and 2.1 GB), and every alias problem is CONFIG_INVALID with the file
// and the line (an unresolved alias was INTERNAL with neither).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { status } from "../faults/fuzz-wire.js";
import { StatusPoller } from "../helpers/wfctld.js";

const HEAD = `modules:
  - name: state
    type: iac.state
    config: { backend: memory }
  - name: local
    type: iac.provider
    config: { provider: local, root: out }
`;

/** 1-based line and column of the first `needle` in `text` after `after` (if given). */
function position(text: string, needle: string, after = ""): { line: number; column: number } {
  const before = text.slice(0, text.indexOf(needle, text.indexOf(after))).split("\n");
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

interface ErrorLine {
  error: { code: string; message: string; details: { file: string; line: number; column: number; message: string }[] };
}

/** The error object that ends a command's --json output (its last line). */
function errorOf(stdout: string): ErrorLine["error"] {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return (JSON.parse(last) as ErrorLine).error;
}

/** A local.file module whose content is `content` (YAML text: a scalar, an anchor, an alias). */
const file = (name: string, content: string) => `  - name: ${name}\n    type: local.file\n    provider: local\n    config: { path: ${name}.txt, content: ${content} }\n`;

describe("YAML aliases through the daemon", () => {
  const sandbox = cliSandbox("wft-alias-");
  const write = (name: string, text: string) => {
    const path = join(sandbox.dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    expectExit(await sandbox.cli.run(["daemon", "start"]), 0);
  });

  it("refuses 99 aliases of one 200 KB string at the alias that expands the file past 10 MiB, at once, while Status answers", { timeout: 120_000 }, async () => {
    // The issue's attack: 5 MB of text standing for 500 MB. Here 200 KB standing for 20 MB, a module each.
    const modules = [file("m0", `&big "${"A".repeat(200_000)}"`), ...Array.from({ length: 99 }, (_, i) => file(`m${i + 1}`, "*big"))];
    const text = HEAD + modules.join("");
    const path = write("bomb.yaml", text);
    const before = await status(sandbox.cli.socket);
    const poller = new StatusPoller(sandbox.cli.socket, 50);
    const started = Date.now();
    const result = await sandbox.cli.run(["infra", "plan", "-c", path, "--json"]);
    const ms = Date.now() - started;
    const polled = await poller.stop();
    const after = await status(sandbox.cli.socket);
    console.log(`alias bomb: refused after ${ms} ms (76 s before); Status slowest ${polled.maxMs} ms; daemon RSS ${Math.round(before.rss / 1e6)} -> ${Math.round(after.rss / 1e6)} MB`);
    expectExit(result, 1);
    const error = errorOf(result.stdout);
    expect(error.code).toBe("CONFIG_INVALID");
    // Each use counts 200,001: the anchor and 51 aliases fit in 10 MiB (with the rest of the file); the 52nd, module m52, does not.
    const [detail] = error.details;
    expect(detail).toMatchObject({ file: path, ...position(text, "*big", "  - name: m52\n"), message: "alias *big expands the document past 10485760 bytes (the configuration size limit, wfctld --max-config-bytes)" });
    expect(result.stderr).toContain(`Error: invalid configuration: ${path}:${detail?.line}:${detail?.column}: alias *big expands the document past`);
    expect(ms).toBeLessThan(30_000);
    expect(polled.failures).toEqual([]);
    expect(polled.maxMs).toBeLessThan(3_000);
    expect(after.pid).toBe(before.pid);
  });

  it("refuses a billion laughs (nested aliases) at once, naming the line", async () => {
    const levels = [`  - name: l0\n    type: local.file\n    provider: local\n    config: { path: l.txt, content: x, extra: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol] }\n`];
    for (let i = 1; i < 10; i++) levels.push(`  - name: l${i}\n    type: local.file\n    provider: local\n    config: { path: l${i}.txt, content: x, extra: &l${i} [${Array(9).fill(`*l${i - 1}`).join(", ")}] }\n`);
    const path = write("laughs.yaml", HEAD + levels.join(""));
    const started = Date.now();
    const result = await sandbox.cli.run(["infra", "plan", "-c", path]);
    expectExit(result, 1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(result.stderr).toMatch(new RegExp(`Error: invalid configuration: ${path}:\\d+:\\d+: alias \\*l\\d is one alias too many`));
  });

  it("an alias to no anchor is CONFIG_INVALID with the file and line (it was INTERNAL with neither), with and without a daemon", async () => {
    const text = HEAD + file("f", "*nowhere");
    const path = write("unresolved.yaml", text);
    const { line, column } = position(text, "*nowhere");
    for (const extra of [[], ["--no-daemon"]]) {
      const result = await sandbox.cli.run(["infra", "plan", "-c", path, "--json", ...extra]);
      expectExit(result, 1);
      const error = errorOf(result.stdout);
      expect(error.code).toBe("CONFIG_INVALID");
      expect(error.details).toEqual([{ file: path, line, column, message: "alias *nowhere names no anchor before it (an anchor &nowhere must come first)" }]);
      expect(result.stderr).toContain(`Error: invalid configuration: ${path}:${line}:${column}: alias *nowhere names no anchor before it`);
    }
  });

  it("an alias inside the node it names (a structure that contains itself) is CONFIG_INVALID with its line", async () => {
    const text = `${HEAD}  - name: f\n    type: local.file\n    provider: local\n    config: &self { path: f.txt, content: x, again: *self }\n`;
    const path = write("cycle.yaml", text);
    const { line, column } = position(text, "*self");
    const result = await sandbox.cli.run(["infra", "plan", "-c", path]);
    expectExit(result, 1);
    expect(result.stderr).toContain(`Error: invalid configuration: ${path}:${line}:${column}: alias *self is inside the node it names`);
  });

  it("plans a configuration whose modules share settings through anchors, as before", async () => {
    const path = write("shared.yaml", `${HEAD}  - name: a\n    type: local.file\n    provider: local\n    config: &common { path: a.txt, content: same }\n  - name: b\n    type: local.file\n    provider: local\n    config: { path: b.txt, content: *content }\n`.replace("content: same", "content: &content same"));
    const result = await sandbox.cli.run(["infra", "plan", "-c", path]);
    expectExit(result, 0);
    expect(result.stdout).toMatch(/\+\s+a\s+local\.file/);
    expect(result.stdout).toMatch(/\+\s+b\s+local\.file/);
    expect(result.stdout).toContain('content: "same"');
  });
});
