// State in object stores through the real CLI and the shipped state plugins:
// the quickstart unchanged but for its state module, on s3 (s3rver, with
// conditional writes as S3 does them), gcs (the Storage emulator, with
// preconditions as GCS does them) and azure_blob (Azurite); and two
// applies at once against s3 state: one proceeds, the other fails at once
// naming the holder, and nothing is lost.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cli, cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS, quickstartWithState } from "../helpers/paths.js";
import { runInBackground } from "../helpers/terminal.js";
import { waitFor } from "../helpers/processes.js";
import { type GcsServer, startGcsServer } from "../servers/gcs.js";
import { AZURITE_ACCOUNT, AZURITE_KEY, type AzuriteServer, startAzurite } from "../servers/azurite.js";
import { type S3Server, startS3Server } from "../servers/s3.js";

const s3State = (endpoint: string, bucket: string) =>
  "  - name: state\n    type: iac.state\n    config:\n      backend: s3\n" +
  `      bucket: ${bucket}\n      endpoint: ${endpoint}\n      region: us-east-1\n      force_path_style: true\n` +
  "      access_key_id_env: E2E_S3_KEY\n      secret_access_key_env: E2E_S3_SECRET\n";

const S3_ENV = { E2E_S3_KEY: "S3RVER", E2E_S3_SECRET: "S3RVER" };

/**
 * The quickstart with `stateModule` through the CLI: apply, the records in
 * state under `backend`, an empty plan, destroy, and state empty again; the
 * filesystem holds the site and no state of its own.
 */
async function quickstartRoundTrip(sandbox: ReturnType<typeof cliSandbox>, stateModule: string, backend: string, env: Record<string, string> = {}): Promise<void> {
  const config = join(sandbox.dir, "infra.yaml");
  writeFileSync(config, quickstartWithState(stateModule));
  expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env }), 0);
  expect(readFileSync(join(sandbox.dir, "out", "site", "index.html"), "utf8")).toContain("Hello from wfctl.");
  expect(readFileSync(join(sandbox.dir, "out", "site", "robots.txt"), "utf8")).toBe("User-agent: *\nDisallow:\n");
  expect(existsSync(join(sandbox.dir, ".wfctl"))).toBe(false);
  const { value } = await sandbox.cli.json<{ backend: string; resources: { name: string }[] }>(["infra", "state", "list", "-c", config], { env });
  expect(value.backend).toBe(`${backend} (namespace default)`);
  expect(value.resources.map((r) => r.name).sort()).toEqual(["index", "robots", "site"]);
  expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--detailed-exitcode"], { env }), 0);
  expectExit(await sandbox.cli.run(["infra", "destroy", "-c", config, "--auto-approve"], { env }), 0);
  const { value: empty } = await sandbox.cli.json<{ resources: unknown[] }>(["infra", "state", "list", "-c", config], { env });
  expect(empty.resources).toEqual([]);
}

describe("s3 state", () => {
  const sandbox = cliSandbox("wft-s3-");
  let server: S3Server;
  const run = (cli: Cli, args: string[]) => cli.run(args, { env: S3_ENV });

  beforeAll(async () => {
    server = await startS3Server({ conditionalWrites: true });
    const sdk = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
    await sdk.send(new CreateBucketCommand({ Bucket: "quickstart" }));
    await sdk.send(new CreateBucketCommand({ Bucket: "shared" }));
    sdk.destroy();
  });
  afterAll(() => server?.stop());

  it("runs the quickstart unchanged but for backend: s3", () => quickstartRoundTrip(sandbox, s3State(server.endpoint, "quickstart"), "s3", S3_ENV));

  it("two applies at once from two daemons: one proceeds, the other fails at once naming the holder; nothing is lost", async () => {
    const dir = join(sandbox.dir, "shared");
    mkdirSync(dir, { recursive: true });
    const config = join(dir, "infra.yaml");
    writeFileSync(join(dir, "slowfs-plugin.mjs"), `import ${JSON.stringify(join(FIXTURE_PLUGINS, "slowfs.mjs"))};\n`);
    writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: slowfs\n    kind: provider\n    source: ./slowfs-plugin.mjs\n    version: 2.0.0\n");
    writeFileSync(
      config,
      "modules:\n" +
        s3State(server.endpoint, "shared") +
        "  - name: files\n    type: iac.provider\n    config: { provider: slowfs, root: out }\n" +
        '  - name: quick\n    type: slowfs.file\n    provider: files\n    config: { path: quick.txt, content: "q" }\n' +
        '  - name: slow\n    type: slowfs.file\n    provider: files\n    config: { path: slow.txt, content: "s" }\n',
    );
    // The slow create waits for as long as this file exists: the second apply runs while the first holds the lock.
    mkdirSync(join(dir, "out"), { recursive: true });
    writeFileSync(join(dir, "out", ".hold-slow"), "");
    expectExit(await run(sandbox.cli, ["plugins", "lock", "-c", config]), 0);
    const first = runInBackground(["infra", "apply", "-c", config, "--auto-approve"], { ...S3_ENV, WFCTL_SOCKET: sandbox.cli.socket });
    await waitFor(() => existsSync(join(dir, "out", ".started-slow")), 20_000, "the first apply to start its slow create");

    const other = new Cli(join(sandbox.dir, "sock-other"));
    // The hold is released only after this returns: a second apply that waited for the lock would never return.
    const second = await run(other, ["infra", "apply", "-c", config, "--auto-approve"]);
    rmSync(join(dir, "out", ".hold-slow"));
    expectExit(second, 3);
    expect(second.stderr).toMatch(/state lock "stack" is held by \S+@\S+ \(pid \d+, wfctld pid \d+\) for "apply" since \S+ \(lock id [0-9a-f-]{36}/);
    expect(await first.exit, `${first.output.stdout}${first.output.stderr}`).toBe(0);
    const { value } = await other.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config], { env: S3_ENV });
    expect(value.resources.map((r) => r.name).sort()).toEqual(["quick", "slow"]);
    expectExit(await run(other, ["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
    await other.run(["daemon", "stop"]);
  });
});

describe("gcs state", () => {
  const sandbox = cliSandbox("wft-gcs-");
  let server: GcsServer;

  beforeAll(async () => {
    server = await startGcsServer({ conditionalWrites: true });
  });
  afterAll(() => server?.stop());

  it("runs the quickstart unchanged but for backend: gcs", () =>
    quickstartRoundTrip(
      sandbox,
      "  - name: state\n    type: iac.state\n    config:\n      backend: gcs\n      bucket: wfctl-state\n" +
        `      api_endpoint: ${server.endpoint}\n      project_id: demo-wfctl\n`,
      "gcs",
    ));
});

describe("azure_blob state", () => {
  const sandbox = cliSandbox("wft-azure-");
  let server: AzuriteServer;

  beforeAll(async () => {
    server = await startAzurite();
  });
  afterAll(() => server?.stop());

  it("runs the quickstart unchanged but for backend: azure_blob", () =>
    quickstartRoundTrip(
      sandbox,
      "  - name: state\n    type: iac.state\n    config:\n      backend: azure_blob\n      container: wfctl-state\n      create_container: true\n" +
        `      account_url: ${server.accountUrl}\n      account_name: ${AZURITE_ACCOUNT}\n      account_key_env: E2E_AZURE_KEY\n`,
      "azure_blob",
      { E2E_AZURE_KEY: AZURITE_KEY },
    ));
});
