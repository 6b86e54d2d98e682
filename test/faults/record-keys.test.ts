// A state record under another resource's key, through the real CLI: the
// record of f7 copied into f6's place (a filesystem state file, a PostgreSQL
// row, an S3 object). Each backend refuses it as STATE_CORRUPT naming the
// file, row or object; state list, plan and apply stop before any change,
// and nothing in state or on disk is touched.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CopyObjectCommand, CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { treeHash } from "../helpers/files.js";
import { createDatabase } from "../servers/postgres.js";
import { type S3Server, startS3Server } from "../servers/s3.js";

/** Two files, f6 and f7, under ./out, with `state` as the iac.state module. */
function project(dir: string, state: string): string {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "infra.yaml");
  writeFileSync(
    config,
    "modules:\n" +
      state +
      "  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n" +
      "  - name: f6\n    type: local.file\n    provider: local\n    config: { path: f6.txt, content: six }\n" +
      "  - name: f7\n    type: local.file\n    provider: local\n    config: { path: f7.txt, content: seven }\n",
  );
  return config;
}

/**
 * With the wrong record in place: `state list`, `plan` and `apply` all fail
 * with STATE_CORRUPT, each message containing `names`; `unchanged()` is
 * checked after each.
 */
async function refusedEverywhere(sandbox: ReturnType<typeof cliSandbox>, config: string, env: Record<string, string>, names: string, unchanged: () => Promise<void>): Promise<void> {
  for (const command of [["infra", "state", "list"], ["infra", "plan"], ["infra", "apply", "--auto-approve"]]) {
    const result = await sandbox.cli.run([...command, "-c", config, "--json"], { env });
    expectExit(result, 1);
    // The error is the last line (after an operation's events).
    const value = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}") as { error?: { code: string; message: string } };
    expect(value.error?.code, result.stderr).toBe("STATE_CORRUPT");
    expect(value.error?.message).toContain(names);
    expect(value.error?.message).toContain(`the record of "f7", not of "f6"`);
    await unchanged();
  }
}

describe("a record under the wrong key", () => {
  describe("filesystem", () => {
    const sandbox = cliSandbox("wft-keys-");
    it("a state file f6.json holding f7's record is refused, naming the file; nothing is changed", async () => {
      const dir = join(sandbox.dir, "fs");
      const config = project(dir, "");
      expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
      const resources = join(dir, ".wfctl", "state", "default", "resources");
      writeFileSync(join(resources, "f6.json"), readFileSync(join(resources, "f7.json")));
      const before = { state: treeHash(join(dir, ".wfctl", "state")), out: treeHash(join(dir, "out")) };
      await refusedEverywhere(sandbox, config, {}, `state file ${join(resources, "f6.json")}`, async () => {
        expect({ state: treeHash(join(dir, ".wfctl", "state")), out: treeHash(join(dir, "out")) }).toEqual(before);
      });
    });
  });

  describe("postgres", () => {
    // Each backend its own daemon: it reads the variables the state module names from its environment.
    const sandbox = cliSandbox("wft-keys-pg-");
    let admin: pg.Client;
    let url = "";
    beforeAll(async () => {
      url = await createDatabase(inject("postgresUrl"), "wfctl_record_keys");
      admin = new pg.Client({ connectionString: url });
      await admin.connect();
    });
    afterAll(() => admin?.end());

    it("a row of f6 holding f7's record is refused, naming the row; nothing is changed", async () => {
      const dir = join(sandbox.dir, "pg");
      const env = { WFCTL_TEST_STATE_URL: url };
      const config = project(dir, "  - name: state\n    type: iac.state\n    config: { backend: postgres, url_env: WFCTL_TEST_STATE_URL, schema: keys }\n");
      expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env }), 0);
      await admin.query("UPDATE keys.wfctl_state SET record = (SELECT record FROM keys.wfctl_state WHERE resource_id = 'f7') WHERE resource_id = 'f6'");
      const rows = async () => (await admin.query("SELECT namespace, resource_id, record, saved_at FROM keys.wfctl_state ORDER BY resource_id")).rows;
      const before = { rows: await rows(), out: treeHash(join(dir, "out")) };
      await refusedEverywhere(sandbox, config, env, `the row with resource_id "f6"`, async () => {
        expect({ rows: await rows(), out: treeHash(join(dir, "out")) }).toEqual(before);
      });
    });
  });

  describe("s3", () => {
    const sandbox = cliSandbox("wft-keys-s3-");
    let server: S3Server;
    let sdk: S3Client;
    const env = { E2E_S3_KEY: "S3RVER", E2E_S3_SECRET: "S3RVER" };
    beforeAll(async () => {
      server = await startS3Server({ conditionalWrites: true });
      sdk = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
      await sdk.send(new CreateBucketCommand({ Bucket: "keys" }));
    });
    afterAll(async () => {
      sdk?.destroy();
      await server?.stop();
    });

    it("an object f6.json holding f7's record is refused, naming the object; nothing is changed", async () => {
      const dir = join(sandbox.dir, "s3");
      const config = project(
        dir,
        "  - name: state\n    type: iac.state\n    config:\n      backend: s3\n" +
          `      bucket: keys\n      endpoint: ${server.endpoint}\n      region: us-east-1\n      force_path_style: true\n` +
          "      access_key_id_env: E2E_S3_KEY\n      secret_access_key_env: E2E_S3_SECRET\n",
      );
      expectExit(await sandbox.cli.run(["infra", "apply", "-c", config, "--auto-approve"], { env }), 0);
      const keys = async () => ((await sdk.send(new ListObjectsV2Command({ Bucket: "keys" }))).Contents ?? []).map((o) => `${o.Key} ${o.ETag}`).sort();
      const f6 = (await keys()).map((k) => k.split(" ")[0] as string).find((k) => k.endsWith("/resources/f6.json"));
      expect(f6).toBeDefined();
      await sdk.send(new CopyObjectCommand({ Bucket: "keys", Key: f6, CopySource: `keys/${(f6 as string).replace("f6.json", "f7.json")}` }));
      const before = { keys: await keys(), out: treeHash(join(dir, "out")) };
      await refusedEverywhere(sandbox, config, env, `object ${f6}`, async () => {
        expect({ keys: await keys(), out: treeHash(join(dir, "out")) }).toEqual(before);
      });
    });
  });
});
