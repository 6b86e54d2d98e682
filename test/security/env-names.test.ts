// Environment names are names, never paths (issue 17, item 8): `--env
// ../../../x` once wrote state three directories above the state directory.
// Through the real CLI and the real daemon: the flag is a usage error (exit
// 64) before anything is contacted or written, with or without a daemon; the
// daemon refuses the same name in a request it is sent directly
// (INVALID_ARGUMENT naming target.env); and an `environments:` key outside
// the rules is CONFIG_INVALID at its file and line.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { dirname, join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DaemonService } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { daemonFiles } from "../../proto/socket.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { treeHash } from "../helpers/files.js";
import { processesMatching } from "../helpers/processes.js";

const CONFIG = `modules:
  - name: state
    type: iac.state
    config: { backend: filesystem, directory: .wfctl/state }
    environments:
      staging: {}

  - name: local
    type: iac.provider
    config: { provider: local, root: out }

  - name: page
    type: local.file
    provider: local
    config: { path: page.txt, content: hello }

verify:
  targets:
    - name: web
      tcp: { host: 127.0.0.1, port: 9 }
`;

/** A Connect unary call in JSON over HTTP/1.1, as `curl --unix-socket` makes it. */
function post(socket: string, method: string, body: unknown): Promise<{ status: number; code: string | undefined; json: { code?: string; message?: string } }> {
  return new Promise((resolvePost, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      { socketPath: socket, method: "POST", path: `/${DaemonService.typeName}/${method}`, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => {
          try {
            resolvePost({ status: res.statusCode ?? 0, code: res.headers["wfctl-error-code"] as string | undefined, json: JSON.parse(text) as { code?: string; message?: string } });
          } catch {
            reject(new Error(`not JSON (HTTP ${res.statusCode}): ${text}`));
          }
        });
      },
    );
    req.once("error", reject);
    req.end(payload);
  });
}

/** Every entry named `name` in `dir` and in each directory above it. */
function foundAbove(dir: string, name: string): string[] {
  const found: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(d) && readdirSync(d).includes(name)) found.push(join(d, name));
    if (d === dirname(d)) return found;
  }
}

describe("environment names", () => {
  const sandbox = cliSandbox("wft-envname-");
  let config: string;
  const stateDir = () => join(sandbox.dir, ".wfctl", "state");

  beforeAll(() => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
  });

  it("--env ../../../envescape exits 64 naming the flag and the rule, before any daemon, state or file is touched", async () => {
    const name = `envescape-${randomBytes(4).toString("hex")}`;
    const escape = `../../../${name}`;
    // Where the filesystem backend once put that namespace: three directories above the state directory.
    const escaped = resolve(stateDir(), escape);
    const before = treeHash(sandbox.dir);
    const commands = [
      ["infra", "plan"],
      ["infra", "plan", "--no-daemon"],
      ["infra", "apply", "--auto-approve"],
      ["infra", "apply", "--auto-approve", "--no-daemon"],
      ["infra", "destroy", "--auto-approve"],
      ["infra", "refresh", "--auto-approve"],
      ["infra", "drift"],
      ["infra", "teardown", "--approve"],
      ["infra", "outputs"],
      ["infra", "state", "list"],
      ["infra", "state", "unlock", "--force", "--approve"],
      ["plugins", "lock"],
      ["deploy", "verify"],
    ];
    for (const command of commands) {
      const result = await sandbox.cli.run([...command, "-c", config, "--env", escape]);
      expectExit(result, 64);
      expect(result.stderr, command.join(" ")).toContain(`--env must be an environment name: it must start with a letter or digit and use only letters, digits, '_', '.', '-'`);
      expect(result.stderr).toContain(JSON.stringify(escape));
      expect(result.stdout).toBe("");
    }
    // Nothing was written: not the escaped namespace, not even the state directory.
    expect(existsSync(escaped)).toBe(false);
    expect(foundAbove(stateDir(), name)).toEqual([]);
    expect(existsSync(stateDir())).toBe(false);
    expect(treeHash(sandbox.dir)).toBe(before);
    // Nothing was sent: no daemon was started for this socket, so no pid, log or audit file.
    const files = daemonFiles(sandbox.cli.socket);
    for (const file of [sandbox.cli.socket, files.pid, files.log, files.audit]) expect(existsSync(file), file).toBe(false);
    expect(processesMatching(sandbox.cli.socket)).toEqual([]);
  });

  it("--env refuses names that are not paths but break the rule too, and takes one that follows it", async () => {
    for (const env of ["a b", ".hidden", "staging/x", "x".repeat(129)]) {
      const result = await sandbox.cli.run(["infra", "plan", "-c", config, "--env", env]);
      expectExit(result, 64);
      expect(result.stderr).toContain("--env must be an environment name");
    }
    expect(existsSync(sandbox.cli.socket)).toBe(false);
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", config, "--env", "staging"]), 0);
  });

  it("the daemon refuses such a name sent to it directly: INVALID_ARGUMENT naming target.env, and nothing is created", async () => {
    // The previous test left a daemon serving this socket.
    expect(existsSync(sandbox.cli.socket)).toBe(true);
    const name = `envescape-${randomBytes(4).toString("hex")}`;
    for (const method of ["Plan", "Apply", "ListState", "Teardown", "Outputs"]) {
      const response = await post(sandbox.cli.socket, method, { target: { configPath: config, env: `../../../${name}` }, caller: { user: "test", command: "raw" } });
      expect(response.status, method).toBe(400);
      expect(response.code).toBe("INVALID_ARGUMENT");
      expect(response.json.code).toBe("invalid_argument");
      expect(response.json.message).toContain(`target.env must be an environment name: it must start with a letter or digit`);
      expect(response.json.message).toContain(JSON.stringify(`../../../${name}`));
    }
    expect(foundAbove(stateDir(), name)).toEqual([]);
    expect(existsSync(resolve(stateDir(), `../../../${name}`))).toBe(false);
    // The daemon still serves.
    expectExit(await sandbox.cli.run(["daemon", "status"]), 0);
  });

  it("an environments: key outside the rules is CONFIG_INVALID at its file and line", async () => {
    const bad = join(sandbox.dir, "bad.yaml");
    writeFileSync(bad, CONFIG.replace("      staging: {}\n", "      staging: {}\n      ../../escape: {}\n"));
    const result = await sandbox.cli.run(["infra", "plan", "-c", bad, "--json"]);
    expectExit(result, 1);
    expect(result.stderr).toContain(`${bad}:7:7: module "state": field "environments.../../escape": "../../escape" is not a valid environment name: it must start with a letter or digit`);
    const error = (JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}") as { error?: { code?: string; details?: { line?: number }[] } }).error;
    expect(error?.code).toBe("CONFIG_INVALID");
    expect(error?.details?.[0]?.line).toBe(7);
  });
});
