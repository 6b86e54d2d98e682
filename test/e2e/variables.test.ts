// Input variables through the real CLI, daemon and local provider: a
// configuration using ${var.image_tag} and a sensitive ${var.db_password}
// plans and applies with --var, --var-file (YAML and JSON) and WFCTL_VAR_*
// from the client's environment (never the daemon's), in that precedence;
// missing, undeclared, wrongly typed and invalid values are refused naming
// where they came from; and the password shows in no output, no file of the
// state directory and no line of the daemon's log (the file the configuration
// writes it into holds it: that is what the configuration asks for).
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { daemonFiles } from "../../proto/socket.js";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";

const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const OTHER_PASSWORD = `pw-${randomBytes(12).toString("hex")}`;

const CONFIG = `variables:
  image_tag:
    description: The image tag to deploy.
    validation:
      - pattern: "^v[0-9]"
        message: image_tag must be a version such as v1 or v2.3
  replicas:
    type: number
    default: 1
  db_password:
    sensitive: true

modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }

  - name: deploy
    type: local.file
    provider: local
    config:
      path: deploy.txt
      content: "image=app:\${var.image_tag} replicas=\${var.replicas}"

  - name: db
    type: local.file
    provider: local
    config:
      path: db.env
      content: "DB_PASSWORD=\${var.db_password}"

outputs:
  deploy_path:
    source: deploy.absolute_path
  db_checksum:
    source: db.sha256
`;

/** Every file under `dir`, with its text. */
function filesUnder(dir: string): { path: string; text: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [{ path, text: readFileSync(path, "utf8") }];
  });
}

describe("input variables", () => {
  const sandbox = cliSandbox("wft-vars-");
  /** Every command's output, to search for the passwords at the end. */
  const seen: CliResult[] = [];
  let config = "";
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const result = await sandbox.cli.run(["infra", ...args, "-c", config], { env });
    seen.push(result);
    return result;
  };
  const content = (file: string) => readFileSync(join(sandbox.dir, "out", file), "utf8");
  const varFile = (name: string, text: string) => {
    const path = join(sandbox.dir, name);
    writeFileSync(path, text);
    return path;
  };
  const planned = async (args: string[], env: Record<string, string> = {}) => {
    const result = await run(["plan", ...args, "--json"], env);
    expectExit(result, 0);
    const report = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}") as { result: { changes: { name: string; action: string; fields: { field: string; after?: unknown; sensitive?: boolean }[] }[] } };
    return (name: string, field: string) => report.result.changes.find((c) => c.name === name)?.fields.find((f) => f.field === field);
  };

  beforeAll(async () => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    // The daemon's own environment holds values: they must never be used.
    const started = await sandbox.cli.run(["daemon", "start"], { env: { WFCTL_VAR_db_password: "daemon-own-password", WFCTL_VAR_image_tag: "v-daemon" } });
    expectExit(started, 0);
  });

  it("a variable with no value is refused at its declaration's file:line, naming the three ways to set it (the daemon's own environment is not one)", async () => {
    const result = await run(["plan", "--var", "image_tag=v1"]);
    expectExit(result, 1);
    expect(result.stderr).toContain(`${config}:10:`);
    expect(result.stderr).toContain('variable "db_password" has no value: set it with --var db_password=VALUE, in a --var-file, or with WFCTL_VAR_db_password in the environment');
    expect(result.stdout + result.stderr).not.toContain("daemon-own");
  });

  it("plans and applies with --var: the tag in plain text, the password masked", async () => {
    const plan = await run(["plan", "--var", "image_tag=v1", "--var", `db_password=${PASSWORD}`, "--detailed-exitcode"]);
    expectExit(plan, 2);
    expect(plan.stdout).toContain('content: "image=app:v1 replicas=1"');
    expect(plan.stdout).toMatch(/\+\s+db\s+local\.file[\s\S]*content: "\(sensitive\)"/);
    const apply = await run(["apply", "--var", "image_tag=v1", "--var", `db_password=${PASSWORD}`, "--auto-approve"]);
    expectExit(apply, 0);
    expect(content("deploy.txt")).toBe("image=app:v1 replicas=1");
    expect(content("db.env")).toBe(`DB_PASSWORD=${PASSWORD}`);
    expectExit(await run(["plan", "--var", "image_tag=v1", "--var", `db_password=${PASSWORD}`, "--detailed-exitcode"]), 0);
  });

  it("plans and applies with a YAML --var-file, then a JSON one", async () => {
    const yaml = varFile("prod.yaml", `image_tag: v2\nreplicas: 3\ndb_password: "${PASSWORD}"\n`);
    expectExit(await run(["apply", "--var-file", yaml, "--auto-approve"]), 0);
    expect(content("deploy.txt")).toBe("image=app:v2 replicas=3");
    const json = varFile("prod.json", JSON.stringify({ image_tag: "v3", replicas: 2, db_password: OTHER_PASSWORD }, null, 2));
    const plan = await run(["plan", "--var-file", json, "--detailed-exitcode"]);
    expectExit(plan, 2);
    expect(plan.stdout).toMatch(/~\s+db\s+local\.file[\s\S]*content: "\(sensitive\)" → "\(sensitive\)"/);
    expectExit(await run(["apply", "--var-file", json, "--auto-approve"]), 0);
    expect(content("deploy.txt")).toBe("image=app:v3 replicas=2");
    expect(content("db.env")).toBe(`DB_PASSWORD=${OTHER_PASSWORD}`);
  });

  it("plans and applies with WFCTL_VAR_* from the client's environment", async () => {
    const env = { WFCTL_VAR_image_tag: "v4", WFCTL_VAR_replicas: "5", WFCTL_VAR_db_password: PASSWORD };
    expectExit(await run(["apply", "--auto-approve"], env), 0);
    expect(content("deploy.txt")).toBe("image=app:v4 replicas=5");
    expect(content("db.env")).toBe(`DB_PASSWORD=${PASSWORD}`);
    expectExit(await run(["plan", "--detailed-exitcode"], env), 0);
  });

  it("--var wins over --var-file, later files over earlier ones, files over WFCTL_VAR_, WFCTL_VAR_ over the default", async () => {
    const env = { WFCTL_VAR_image_tag: "v1-env", WFCTL_VAR_db_password: PASSWORD };
    const first = varFile("first.yaml", "image_tag: v2-first\nreplicas: 7\n");
    const second = varFile("second.json", '{ "image_tag": "v3-second" }');
    const deploy = async (args: string[]) => (await planned(args, env))("deploy", "content")?.after;
    expect(await deploy([])).toBe("image=app:v1-env replicas=1");
    expect(await deploy(["--var-file", first])).toBe("image=app:v2-first replicas=7");
    expect(await deploy(["--var-file", first, "--var-file", second])).toBe("image=app:v3-second replicas=7");
    expect(await deploy(["--var-file", second, "--var-file", first])).toBe("image=app:v2-first replicas=7");
    expect(await deploy(["--var-file", first, "--var-file", second, "--var", "image_tag=v4-flag"])).toBe("image=app:v4-flag replicas=7");
    // Another password than the one applied: the change is planned, masked.
    const db = (await planned([], { ...env, WFCTL_VAR_db_password: OTHER_PASSWORD }))("db", "content");
    expect(db).toMatchObject({ sensitive: true });
  });

  it("undeclared and wrongly typed values are refused, naming the flag, the variable or the file:line", async () => {
    const both = ["--var", "image_tag=v1", "--var", `db_password=${PASSWORD}`];
    const unknown = await run(["plan", ...both, "--var", "nope=1"]);
    expectExit(unknown, 64);
    expect(unknown.stderr).toContain('--var nope": no variable named "nope" is declared');
    expect(unknown.stderr).toContain("(declared: image_tag, replicas, db_password)");
    const typed = await run(["plan", ...both, "--var", "replicas=many"]);
    expectExit(typed, 64);
    expect(typed.stderr).toContain('--var replicas": variable "replicas" must be a number');
    const env = await run(["plan", ...both], { WFCTL_VAR_replicas: "lots" });
    expectExit(env, 64);
    expect(env.stderr).toContain('WFCTL_VAR_replicas": variable "replicas" must be a number');
    const file = varFile("bad.yaml", "image_tag: v1\nreplicas: three\ncolour: blue\n");
    const inFile = await run(["plan", "--var-file", file, "--var", `db_password=${PASSWORD}`]);
    expectExit(inFile, 1);
    expect(inFile.stderr).toContain(`${file}:2:`);
    expect(inFile.stderr).toContain('variable "replicas" must be a number');
    expect(inFile.stderr).toContain(`${file}:3:`);
    expect(inFile.stderr).toContain('variable "colour" is not declared');
    const invalid = await run(["plan", "--var", "image_tag=latest", "--var", `db_password=${PASSWORD}`]);
    expectExit(invalid, 64);
    expect(invalid.stderr).toContain('variable "image_tag": image_tag must be a version such as v1 or v2.3 (value "latest" from --var)');
  });

  it("a use of an undeclared variable is refused at its file:line, naming the declared ones", async () => {
    const bad = join(sandbox.dir, "bad-use.yaml");
    writeFileSync(bad, CONFIG.replace("replicas=${var.replicas}", "replicas=${var.replica_count}"));
    const result = await sandbox.cli.run(["infra", "plan", "-c", bad, "--var", "image_tag=v1", "--var", `db_password=${PASSWORD}`]);
    expectExit(result, 1);
    expect(result.stderr).toMatch(/bad-use\.yaml:\d+:\d+: module "deploy": field "config.content": \$\{var\.replica_count\}: no variable named "replica_count" is declared \(declared: image_tag, replicas, db_password\)/);
  });

  it("outputs, state and drift never show the password; under GitHub Actions it is masked before anything prints", async () => {
    const env = { WFCTL_VAR_image_tag: "v4", WFCTL_VAR_replicas: "5", WFCTL_VAR_db_password: PASSWORD };
    for (const args of [["outputs"], ["outputs", "--json"], ["outputs", "--show-sensitive"], ["state", "list", "--json"], ["drift"], ["drift", "--json"], ["plan", "--json"]]) {
      expectExit(await run(args, env), 0);
    }
    const gha = await run(["plan"], { ...env, GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: join(sandbox.dir, "summary.md") });
    expectExit(gha, 0);
    const lines = gha.stderr.split("\n");
    expect(lines[0]).toBe(`::add-mask::${PASSWORD}`);
    expect(lines.filter((line) => line.includes(PASSWORD))).toEqual([`::add-mask::${PASSWORD}`]);
    seen.pop();
    const record = JSON.parse(readFileSync(join(sandbox.dir, ".wfctl", "state", "default", "resources", "db.json"), "utf8")) as { config: Record<string, unknown> };
    expect(Object.keys(record.config["content"] as object)).toEqual(["$wfctl_sealed"]);
  });

  it("a saved plan keeps its variables: apply FILE uses the planned tag, and takes the password again from WFCTL_VAR_, refusing another", async () => {
    const file = join(sandbox.dir, "vars.plan.json");
    const plan = await run(["plan", "--var", "image_tag=v7", "--out", file], { WFCTL_VAR_db_password: PASSWORD });
    expectExit(plan, 0);
    expect(readFileSync(file, "utf8")).not.toContain(PASSWORD);
    const before = content("deploy.txt");
    const other = await run(["apply", file], { WFCTL_VAR_db_password: OTHER_PASSWORD });
    expectExit(other, 1);
    expect(other.stderr).toContain("PLAN_STALE");
    expect(other.stderr).toContain('the sensitive variable "db_password" has another value now than when planned');
    const missing = await run(["apply", file]);
    expectExit(missing, 1);
    expect(missing.stderr).toContain('variable "db_password" has no value');
    expect(content("deploy.txt")).toBe(before);
    // The tag is the plan's, whatever this step's environment says.
    const applied = await run(["apply", file], { WFCTL_VAR_db_password: PASSWORD, WFCTL_VAR_image_tag: "v-not-planned" });
    expectExit(applied, 0);
    expect(content("deploy.txt")).toBe("image=app:v7 replicas=1");
    expect(content("db.env")).toBe(`DB_PASSWORD=${PASSWORD}`);
  });

  it("an import seals a field a sensitive variable fills, as an apply does", async () => {
    const env = { WFCTL_VAR_image_tag: "v7", WFCTL_VAR_db_password: PASSWORD };
    expectExit(await run(["state", "rm", "db"], env), 0);
    expectExit(await run(["import", "db", join(sandbox.dir, "out", "db.env")], env), 0);
    const record = JSON.parse(readFileSync(join(sandbox.dir, ".wfctl", "state", "default", "resources", "db.json"), "utf8")) as { config: Record<string, unknown> };
    expect(Object.keys(record.config["content"] as object)).toEqual(["$wfctl_sealed"]);
    expectExit(await run(["plan", "--detailed-exitcode"], env), 0);
  });

  it("no output, file of the state directory or line of the daemon's log holds either password", () => {
    const files = daemonFiles(sandbox.cli.socket);
    const haystack = [
      ...filesUnder(join(sandbox.dir, ".wfctl")).map((f) => `${f.path}\n${f.text}`),
      readFileSync(files.log, "utf8"),
      existsSync(files.audit) ? readFileSync(files.audit, "utf8") : "",
      ...seen.map((r) => r.stdout + r.stderr),
    ].join("\n");
    expect(haystack).toContain("db.json"); // the haystack is real
    expect(haystack).toContain("image=app:v4");
    expect(haystack.includes(PASSWORD)).toBe(false);
    expect(haystack.includes(OTHER_PASSWORD)).toBe(false);
  });
});
