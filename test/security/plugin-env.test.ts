// Plugins get only the environment they need (issue 17, acceptance check 2):
// a daemon started with secrets in its environment (ADMIN_DATABASE_URL with a
// password, FOO_SECRET, NODE_OPTIONS), asked by a step whose environment holds
// the same (issue 19: a plugin's variables come from the request), runs a plan with the local provider, the
// s3 provider, the s3 state backend (against s3rver) and a project plugin
// that declares DECLARED_*. Every plugin process's /proc/PID/environ holds
// only the documented base, the handshake, what that plugin declares it
// reads and what its configuration names in *_env fields — and no value
// holding "secret".
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinPlugins } from "../../daemon/supervisor/catalog.js";
import { BASE_ENV } from "../../daemon/supervisor/plugin-env.js";
import { matchesEnvPattern } from "../../proto/env-patterns.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS } from "../helpers/paths.js";
import { type S3Server, startS3Server } from "../servers/s3.js";

/** The daemon's environment: secrets no plugin needs, variables some plugins declare, and the credentials the config names. */
const DAEMON_ENV = {
  ADMIN_DATABASE_URL: "postgres://u:secret@h/db",
  FOO_SECRET: "x",
  NODE_OPTIONS: "--no-deprecation",
  AWS_REGION: "us-east-1",
  DECLARED_VISIBLE: "yes",
  WFT_S3_KEY: "S3RVER",
  WFT_S3_SECRET: "S3RVER",
};
/** The variables the host sets for the handshake. */
const HANDSHAKE = ["WFCTL_PLUGIN_MAGIC_COOKIE", "WFCTL_PLUGIN_SOCKET_DIR", "WFCTL_PLUGIN_PROTOCOL_VERSIONS", "WFCTL_PLUGIN_PARENT_FD"];
const S3_NAMED = ["WFT_S3_KEY", "WFT_S3_SECRET"];

/** A process's environment, from /proc. */
function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** Pids of the live processes whose parent is `parent`. */
function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(ppid) === parent && state !== "Z") pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

describe("the environment of plugin processes", () => {
  const sandbox = cliSandbox("wft-env-");
  let server: S3Server;

  beforeAll(async () => {
    server = await startS3Server({ conditionalWrites: true });
    const sdk = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    await sdk.send(new CreateBucketCommand({ Bucket: "envstate" }));
    sdk.destroy();
  });
  afterAll(() => server?.stop());

  it("holds only the base, the handshake, what each plugin declares and what its configuration names; no secret", async () => {
    const dir = sandbox.dir;
    const config = join(dir, "infra.yaml");
    const s3 = `endpoint: ${server.endpoint}, region: us-east-1, force_path_style: true, access_key_id_env: WFT_S3_KEY, secret_access_key_env: WFT_S3_SECRET`;
    writeFileSync(join(dir, "declared-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "declares-env.mjs"))};\n`);
    writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: declared\n    kind: provider\n    source: ./declared-plugin.mjs\n");
    writeFileSync(
      config,
      "modules:\n" +
        `  - name: state\n    type: iac.state\n    config: { backend: s3, bucket: envstate, ${s3} }\n` +
        "  - name: files\n    type: iac.provider\n    config: { provider: local, root: out }\n" +
        `  - name: aws\n    type: iac.provider\n    config: { provider: s3, ${s3} }\n` +
        "  - name: mine\n    type: iac.provider\n    config: { provider: declared }\n" +
        "  - name: page\n    type: local.file\n    provider: files\n    config: { path: index.html, content: hi }\n" +
        "  - name: assets\n    type: s3.bucket\n    provider: aws\n    config: { bucket: envtest-assets }\n" +
        "  - name: thing\n    type: declared.thing\n    provider: mine\n    config: { label: x }\n",
    );
    const { value: daemon } = await sandbox.cli.json<{ pid: number }>(["daemon", "start"], { env: DAEMON_ENV });
    expect(environOf(daemon.pid)["ADMIN_DATABASE_URL"]).toBe(DAEMON_ENV.ADMIN_DATABASE_URL); // the daemon does hold them
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", config]), 0);
    const lock = parse(readFileSync(join(dir, ".wfctl-lock.yaml"), "utf8")) as { plugins: { declared: { reads_env: string[] } } };
    expect(lock.plugins.declared.reads_env).toEqual(["DECLARED_*"]);
    // The step's environment holds the secrets too: the plugins' variables come from it.
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config], { env: DAEMON_ENV }), 0);

    const { value } = await sandbox.cli.json<{ plugins: { name: string; kind: string; pid: number; state: string }[] }>(["plugins", "list"]);
    const running = value.plugins.filter((p) => p.state === "running");
    expect(running.map((p) => `${p.kind}/${p.name}`).sort()).toEqual(["provider/declared", "provider/local", "provider/s3", "state_backend/s3"]);
    // Every child of the daemon is one of them: no plugin process is left out of the check.
    expect(childrenOf(daemon.pid)).toEqual(running.map((p) => p.pid).sort((a, b) => a - b));

    const declared = (kind: string, name: string): readonly string[] =>
      name === "declared" ? lock.plugins.declared.reads_env : (builtinPlugins().find((s) => s.kind === kind && s.name === name)?.readsEnv ?? []);
    for (const plugin of running) {
      const env = environOf(plugin.pid);
      const named = plugin.name === "s3" ? S3_NAMED : [];
      const allowed = [...BASE_ENV, ...HANDSHAKE, ...declared(plugin.kind, plugin.name), ...named];
      const who = `${plugin.kind} ${plugin.name} (pid ${plugin.pid})`;
      expect(Object.keys(env).filter((name) => !matchesEnvPattern(name, allowed)), `${who}: variables outside its base and declared set`).toEqual([]);
      expect(Object.entries(env).filter(([, v]) => v.toLowerCase().includes("secret")), `${who}: values holding a secret`).toEqual([]);
      expect(env).not.toHaveProperty("NODE_OPTIONS");
      expect(env["PATH"], who).toBe(process.env["PATH"]);
      expect(env["WFCTL_PLUGIN_SOCKET_DIR"], who).toBeTruthy();
      if (plugin.name === "s3") {
        expect(env["AWS_REGION"], who).toBe("us-east-1");
        expect(env["WFT_S3_KEY"], who).toBe("S3RVER");
      } else {
        expect(env, who).not.toHaveProperty("AWS_REGION");
        expect(env, who).not.toHaveProperty("WFT_S3_KEY");
      }
      if (plugin.name === "declared") expect(env["DECLARED_VISIBLE"]).toBe("yes");
      else expect(env, who).not.toHaveProperty("DECLARED_VISIBLE");
    }
  });
});
