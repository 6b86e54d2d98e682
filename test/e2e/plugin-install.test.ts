// A cloud plugin as a user gets it: its package packed (npm pack, its own
// prepack bundling it into one file), installed into a project outside the
// repository by `wfctl plugins install` and pinned in .wfctl-lock.yaml, then
// used as the project's state backend against the S3 test server. One
// changed byte in the installed code is refused before the plugin starts;
// a package of the same version with other code is refused at install; CI's
// `plugins lock --check` fails on a stale lockfile. And a built-in cloud
// plugin that is not installed says how to install it.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { treeChecksum } from "../../daemon/supervisor/checksum.js";
import { PluginInstance } from "../../daemon/supervisor/instance.js";
import { silentLogger } from "../../daemon/log.js";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { rejectionOf } from "../helpers/errors.js";
import { ROOT, quickstartWithState, tempDir } from "../helpers/paths.js";
import { type S3Server, startS3Server } from "../servers/s3.js";

const S3_ENV = { E2E_S3_KEY: "S3RVER", E2E_S3_SECRET: "S3RVER" };
const BUNDLE = join("node_modules", "@wfctl", "state-s3", "dist", "wfctl-state-s3.mjs");

function errorOf(result: CliResult): { code: string; message: string } {
  expectExit(result, 1);
  const line = result.stdout.split("\n").find((l) => l.startsWith('{"error"'));
  if (!line) throw new Error(`no JSON error on stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  return (JSON.parse(line) as { error: { code: string; message: string } }).error;
}

/** Pids of the processes whose command line names `path`. */
function processesRunning(path: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(path)) found.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe("a cloud plugin installed with wfctl plugins install", () => {
  const sandbox = cliSandbox("wft-install-");
  let server: S3Server;
  let project: string;
  let config: string;
  let lockfile: string;
  let installed: string;
  const run = (args: string[]) => sandbox.cli.run(args, { env: S3_ENV, cwd: project });

  beforeAll(async () => {
    project = join(sandbox.dir, "project");
    mkdirSync(project);
    // Packed as it would be published: npm runs the package's prepack (plugins/bundle.mjs).
    execFileSync("npm", ["pack", "./plugins/state-s3", "--pack-destination", project, "--silent"], { cwd: ROOT, stdio: "pipe" });
    server = await startS3Server({ conditionalWrites: true });
    const sdk = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    await sdk.send(new CreateBucketCommand({ Bucket: "installed" }));
    sdk.destroy();
    config = join(project, "infra.yaml");
    lockfile = join(project, ".wfctl-lock.yaml");
    installed = join(project, ".wfctl", "plugins", "s3");
    writeFileSync(
      config,
      quickstartWithState(
        "  - name: state\n    type: iac.state\n    config:\n      backend: s3\n" +
          `      bucket: installed\n      endpoint: ${server.endpoint}\n      region: us-east-1\n      force_path_style: true\n` +
          "      access_key_id_env: E2E_S3_KEY\n      secret_access_key_env: E2E_S3_SECRET\n",
      ),
    );
    writeFileSync(join(project, "wfctl.yaml"), 'plugins:\n  - name: s3\n    kind: state_backend\n    package: "@wfctl/state-s3"\n    from: ./wfctl-state-s3-0.1.0.tgz\n');
  }, 120_000);
  afterAll(() => server?.stop());

  it("installs the package into .wfctl/plugins, pins all its code, and serves the project's state from S3", async () => {
    expectExit(await run(["plugins", "install"]), 0);
    const entry = (parse(readFileSync(lockfile, "utf8")) as { lockfile_version: number; plugins: Record<string, Record<string, unknown>> }).plugins["s3"];
    expect(entry).toMatchObject({
      kind: "state_backend",
      source: "package:@wfctl/state-s3",
      from: "./wfctl-state-s3-0.1.0.tgz",
      path: join(".wfctl", "plugins", "s3", BUNDLE),
      node: true,
      version: "0.1.0",
      root: join(".wfctl", "plugins", "s3", "node_modules"),
      checksums: { any: await treeChecksum(join(installed, "node_modules")) },
      reads_env: ["AWS_*", "NODE_EXTRA_CA_CERTS"],
    });
    expectExit(await run(["plugins", "lock", "--check"]), 0);

    expectExit(await run(["infra", "apply", "--auto-approve"]), 0);
    const { value } = await sandbox.cli.json<{ backend: string; resources: { name: string }[] }>(["infra", "state", "list", "-c", config], { env: S3_ENV });
    expect(value.backend).toBe("s3 (namespace default)");
    expect(value.resources.map((r) => r.name).sort()).toEqual(["index", "robots", "site"]);
    expectExit(await run(["infra", "plan", "--detailed-exitcode"]), 0);
    const { value: inspected } = await sandbox.cli.json<{ plugins: { kind: string; state: string; executable: string; checksum: string; lockfile: string }[] }>(["plugins", "inspect", "s3"]);
    const backend = inspected.plugins.find((p) => p.kind === "state_backend" && p.state === "running");
    expect(backend).toMatchObject({ checksum: entry?.["checksums"] && (entry["checksums"] as { any: string }).any, lockfile });
  });

  it("refuses one changed byte of the installed code before the plugin starts, naming both checksums; install puts it back", async () => {
    const pinned = (parse(readFileSync(lockfile, "utf8")) as { plugins: { s3: { checksums: { any: string } } } }).plugins.s3.checksums.any;
    // A running instance was verified when it started: stop it, so the next command starts one.
    expectExit(await sandbox.cli.run(["daemon", "stop"]), 0);
    const bundle = join(installed, BUNDLE);
    const code = readFileSync(bundle);
    const at = code.indexOf("everything it runs is in this file");
    code[at] = "E".charCodeAt(0);
    writeFileSync(bundle, code);
    const actual = await treeChecksum(join(installed, "node_modules"));
    expect(actual).not.toBe(pinned);

    const refused = errorOf(await run(["infra", "plan", "--json"]));
    expect(refused.code).toBe("PLUGIN_CHECKSUM_MISMATCH");
    expect(refused.message).toContain(pinned);
    expect(refused.message).toContain(actual);
    expect(processesRunning(bundle)).toEqual([]);
    const check = await run(["plugins", "lock", "--check"]);
    expectExit(check, 1);
    expect(check.stdout).toContain('plugin "s3": checksums differs');

    // Installing again from the same tarball restores the pinned code.
    expectExit(await run(["plugins", "install"]), 0);
    expect(await treeChecksum(join(installed, "node_modules"))).toBe(pinned);
    expectExit(await run(["infra", "plan", "--detailed-exitcode"]), 0);
  });

  it("refuses at install a package of the version already pinned whose code differs; --upgrade pins it", async () => {
    const before = readFileSync(lockfile, "utf8");
    // The same package and version, one line of code more, from a folder.
    const folder = join(project, "patched");
    mkdirSync(folder);
    execFileSync("tar", ["-xzf", join(project, "wfctl-state-s3-0.1.0.tgz"), "-C", folder, "--strip-components=1"]);
    const bundle = join(folder, "dist", "wfctl-state-s3.mjs");
    writeFileSync(bundle, `${readFileSync(bundle, "utf8")}// patched\n`);
    writeFileSync(join(project, "wfctl.yaml"), 'plugins:\n  - name: s3\n    kind: state_backend\n    package: "@wfctl/state-s3"\n    from: ./patched\n');

    const pinned = await treeChecksum(join(installed, "node_modules"));
    const refused = errorOf(await run(["plugins", "install", "--json"]));
    expect(refused.code).toBe("PLUGIN_CHECKSUM_MISMATCH");
    expect(refused.message).toContain("the package changed without a new version");
    expect(readFileSync(lockfile, "utf8")).toBe(before);
    // The refused code is not left installed: the plugin installed before is back.
    expect(await treeChecksum(join(installed, "node_modules"))).toBe(pinned);

    expectExit(await run(["plugins", "install", "--upgrade"]), 0);
    const entry = (parse(readFileSync(lockfile, "utf8")) as { plugins: { s3: { from: string; checksums: { any: string } } } }).plugins.s3;
    expect(entry.from).toBe("./patched");
    expect(entry.checksums.any).toBe(await treeChecksum(join(installed, "node_modules")));
    // Copied in, never linked to the folder.
    expect(readFileSync(join(installed, BUNDLE), "utf8")).toContain("// patched\n");
    expectExit(await run(["infra", "plan", "--detailed-exitcode"]), 0);
  });

  it("plugins lock --check and plugins install --locked fail, writing nothing, while wfctl.yaml and the lockfile disagree", async () => {
    cpSync(join(project, "wfctl.yaml"), join(project, "wfctl.yaml.bak"));
    const before = readFileSync(lockfile, "utf8");
    const code = await treeChecksum(join(installed, "node_modules"));
    writeFileSync(join(project, "wfctl.yaml"), `${readFileSync(join(project, "wfctl.yaml.bak"), "utf8")}    env: { AWS_MAX_ATTEMPTS: "5" }\n`);
    const { result, value } = await sandbox.cli.json<{ up_to_date: boolean; differences: string[] }>(["plugins", "lock", "--check", "-c", config], { env: S3_ENV });
    expectExit(result, 1);
    expect(value, JSON.stringify(value)).toMatchObject({ up_to_date: false, differences: ['plugin "s3": env differs'] });
    expect(readFileSync(lockfile, "utf8")).toBe(before);
    // CI's install: exactly what the lockfile pins, or nothing changes.
    const locked = await sandbox.cli.json<{ up_to_date: boolean; differences: string[] }>(["plugins", "install", "--locked", "-c", config], { env: S3_ENV });
    expectExit(locked.result, 1);
    expect(locked.value.differences).toEqual(['plugin "s3": env differs']);
    expect(readFileSync(lockfile, "utf8")).toBe(before);
    expect(await treeChecksum(join(installed, "node_modules"))).toBe(code);
    cpSync(join(project, "wfctl.yaml.bak"), join(project, "wfctl.yaml"));
    expectExit(await run(["plugins", "lock", "--check"]), 0);
    expectExit(await run(["plugins", "install", "--locked"]), 0);
    expect(readFileSync(lockfile, "utf8")).toBe(before);
  });
});

describe("a built-in cloud plugin that is not beside wfctl", () => {
  it("is refused before anything starts, saying which package to declare and how to install it", async () => {
    const root = tempDir("wft-noplugins-");
    try {
      const spec = builtinPlugins(root.path).find((s) => s.kind === "state_backend" && s.name === "s3");
      const instance = new PluginInstance(spec as NonNullable<typeof spec>, "k", silentLogger());
      const error = await rejectionOf(instance.start());
      expect(error.code).toBe("PLUGIN_NOT_FOUND");
      expect(error.message).toContain("ships as the npm package @wfctl/state-s3, not inside wfctl");
      expect(error.message).toContain('package: "@wfctl/state-s3"');
      expect(error.message).toContain("wfctl plugins install");
      expect(instance.pid).toBeUndefined();
    } finally {
      root.cleanup();
    }
  });
});
