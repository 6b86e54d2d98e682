// The lockfile pins everything that decides what a project plugin runs
// (issue 17, item 4 and acceptance check 2), through the real CLI and daemon:
// after `plugins lock`, adding NODE_OPTIONS to the plugin's env in wfctl.yaml,
// changing an env value or its args fails the next command with
// PLUGIN_NOT_LOCKED naming the field, before the plugin runs (the preload
// never executes); env values never reach the lockfile; a lockfile of the
// first format is refused with a word to lock again; a plugin whose code now
// declares more host variables than were pinned is refused; and once locked
// again, the lock is what runs.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";

/** The error a command printed with --json. */
function errorOf(result: CliResult): { code: string; message: string } {
  expectExit(result, 1);
  const line = result.stdout.split("\n").find((l) => l.startsWith('{"error"'));
  if (!line) throw new Error(`no JSON error on stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return (JSON.parse(line) as { error: { code: string; message: string } }).error;
}

describe("what the lockfile pins", () => {
  const sandbox = cliSandbox("wft-pin-");
  let dir: string;
  let config: string;
  let lockfile: string;
  let preloadRan: string;
  const manifest = (entry: string) =>
    writeFileSync(join(dir, "wfctl.yaml"), `plugins:\n  - name: declared\n    kind: provider\n    source: ./declared-plugin.mjs\n${entry}`);
  const PINNED = '    args: ["--mode", "a"]\n    env: { DECLARED_TOKEN: "tok-3f9a-do-not-write" }\n';
  const plan = () => sandbox.cli.run(["infra", "plan", "-c", config, "--json"]);
  const lock = () => sandbox.cli.run(["plugins", "lock", "-c", config]);

  beforeAll(() => {
    dir = sandbox.dir;
    config = join(dir, "infra.yaml");
    lockfile = join(dir, ".wfctl-lock.yaml");
    preloadRan = join(dir, "preload-ran");
    writeFileSync(join(dir, "declared-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "declares-env.mjs"))};\n`);
    // What an attacker's NODE_OPTIONS would load: it leaves a file when it runs.
    writeFileSync(join(dir, "preload.mjs"), `import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(preloadRan)}, String(process.pid));\n`);
    writeFileSync(
      config,
      "modules:\n  - name: mine\n    type: iac.provider\n    config: { provider: declared }\n" +
        "  - name: thing\n    type: declared.thing\n    provider: mine\n    config: { label: x }\n",
    );
  });

  it("plugins lock pins args, env (a digest of each value, never the value) and reads_env", async () => {
    manifest(PINNED);
    expectExit(await lock(), 0);
    const text = readFileSync(lockfile, "utf8");
    expect(text).not.toContain("tok-3f9a-do-not-write");
    const entry = (parse(text) as { lockfile_version: number; plugins: Record<string, Record<string, unknown>> }).plugins["declared"];
    expect(entry).toMatchObject({ args: ["--mode", "a"], reads_env: ["DECLARED_*"] });
    expect(entry?.["env"]).toEqual({ DECLARED_TOKEN: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) as unknown });
    expectExit(await plan(), 0);
  });

  it("NODE_OPTIONS added to the plugin's env is PLUGIN_NOT_LOCKED naming env.NODE_OPTIONS, and the preload never runs", async () => {
    // The daemon is warm, its plugin running: the check is made for every command.
    manifest(`${PINNED.replace("{ DECLARED_TOKEN", `{ NODE_OPTIONS: "--import=${join(dir, "preload.mjs")}", DECLARED_TOKEN`)}`);
    const error = errorOf(await plan());
    expect(error.code).toBe("PLUGIN_NOT_LOCKED");
    expect(error.message).toContain(`plugin "declared": env.NODE_OPTIONS (not in the lockfile) differs from ${lockfile}`);
    expect(error.message).toContain(`run \`wfctl plugins lock -c ${config}\``);
    expect(existsSync(preloadRan)).toBe(false);
  });

  it("a changed env value or changed args are PLUGIN_NOT_LOCKED naming the field, without the value", async () => {
    manifest(PINNED.replace("tok-3f9a-do-not-write", "tok-other"));
    const changed = errorOf(await plan());
    expect(changed.code).toBe("PLUGIN_NOT_LOCKED");
    expect(changed.message).toContain(`plugin "declared": env.DECLARED_TOKEN differs from ${lockfile}`);
    expect(changed.message).not.toContain("tok-other");
    manifest(PINNED.replace('"a"]', '"a", "--extra"]'));
    const args = errorOf(await plan());
    expect(args.code).toBe("PLUGIN_NOT_LOCKED");
    expect(args.message).toContain(`plugin "declared": args differs from ${lockfile}`);
    manifest(PINNED);
    expectExit(await plan(), 0);
  });

  it("a plugin that now declares more host variables than the lock pins is refused before any call", async () => {
    // The hashed entry file is unchanged; a module it loads now declares FOO_*.
    writeFileSync(join(dir, "reads-env.json"), JSON.stringify(["DECLARED_*", "FOO_*"]));
    try {
      // What a plugin declares is checked when it starts: start it afresh.
      expectExit(await sandbox.cli.run(["daemon", "stop"]), 0);
      const error = errorOf(await plan());
      expect(error.code).toBe("PLUGIN_NOT_LOCKED");
      expect(error.message).toContain(`declares reads_env [DECLARED_*, FOO_*], but ${lockfile} pins [DECLARED_*]`);
    } finally {
      rmSync(join(dir, "reads-env.json"));
    }
    expectExit(await plan(), 0);
  });

  it("an entry of a format-1 lockfile (no args, env or reads_env pinned) is refused, saying to lock again", async () => {
    const current = parse(readFileSync(lockfile, "utf8")) as { plugins: Record<string, Record<string, unknown>> };
    const { args: _a, env: _e, reads_env: _r, root: _root, checksums, ...rest } = current.plugins["declared"] as Record<string, unknown>;
    const legacy = { ...rest, sha256: (checksums as { any: string }).any.replace(/^sha256:/, "") };
    writeFileSync(lockfile, stringify({ lockfile_version: 1, plugins: { declared: legacy } }));
    const error = errorOf(await plan());
    expect(error.code).toBe("PLUGIN_NOT_LOCKED");
    expect(error.message).toContain(`plugin "declared" was locked by an older wfctl (${lockfile} is lockfile_version 1, which does not pin args, env and reads_env)`);
    expect(error.message).toContain("wfctl plugins lock");
    expectExit(await lock(), 0);
    expect((parse(readFileSync(lockfile, "utf8")) as { lockfile_version: number }).lockfile_version).toBe(3);
    expectExit(await plan(), 0);
  });

  it("once locked again, what the lock pins is what runs (NODE_OPTIONS from wfctl.yaml included)", async () => {
    manifest(`${PINNED.replace("{ DECLARED_TOKEN", `{ NODE_OPTIONS: "--import=${join(dir, "preload.mjs")}", DECLARED_TOKEN`)}`);
    expectExit(await lock(), 0);
    rmSync(preloadRan, { force: true });
    // The warm daemon starts the plugin afresh: it was locked again with another env.
    expectExit(await plan(), 0);
    expect(existsSync(preloadRan)).toBe(true);
  });
});
