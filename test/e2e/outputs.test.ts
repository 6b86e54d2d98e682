// Outputs and refresh through the real CLI. Outputs: sensitive values (by the
// configuration, or by the provider's schema) are masked by default, shown
// with --show-sensitive, and registered with ::add-mask:: under GitHub
// Actions before anything prints. Refresh: state takes what the provider
// reads, ghosts are pruned with audit lines, no resource is changed.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { WFCTL } from "../helpers/paths.js";
import { treeHash } from "../helpers/files.js";

const TOKEN = "tok-7d1e-SECRET-4a9b";
const PASSWORD = "pw-c0ffee-SECRET";
/** The content of a local.sensitive_file: sensitive by the provider's schema, so sealed in state. */
const SEALED = "key-9f3c-SECRET-77aa";

const CONFIG = `modules:
  - name: local
    type: iac.provider
    config: { provider: local, root: out }

  - name: notes
    type: local.file
    provider: local
    config: { path: notes.txt, content: "hello\\n" }

  # The provider's schema marks a sensitive_file's content sensitive.
  - name: token
    type: local.sensitive_file
    provider: local
    config: { path: token.txt, content: "${SEALED}" }

  - name: apikey
    type: local.file
    provider: local
    config: { path: apikey.txt, content: "${TOKEN}" }

  - name: dbpass
    type: local.file
    provider: local
    config: { path: dbpass.txt, content: "${PASSWORD}" }

outputs:
  notes_path:
    source: notes.absolute_path
    description: Where the notes are.
  # Sensitive because the configuration says so.
  api_token:
    source: apikey.content
    sensitive: true
  db_password:
    source: dbpass.content
    sensitive: true
`;

/** Runs wfctl with stderr and stdout in one pipe (as a CI runner reads a step), returned as stdout. */
function runMerged(socket: string, args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", 'exec "$0" "$@" 2>&1', process.execPath, WFCTL, ...args], {
      env: { ...process.env, WFCTL_SOCKET: socket, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code: code ?? -1, stdout, stderr: "" }));
  });
}

/** The environment of a run outside GitHub Actions, whatever runs the tests. */
const NOT_GHA = { GITHUB_ACTIONS: undefined };

describe("outputs", () => {
  const sandbox = cliSandbox("wft-outputs-");
  let config: string;
  const run = (args: string[], env: Record<string, string | undefined> = NOT_GHA) => sandbox.cli.run(args, { env });

  beforeAll(async () => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG);
    const applied = await run(["infra", "apply", "-c", config, "--auto-approve"]);
    expectExit(applied, 0);
    // The plan masks what the provider's schema marks sensitive.
    expect(applied.stdout + applied.stderr).not.toContain(SEALED);
  });

  it("keeps a value the provider's schema marks sensitive sealed in state: never the value, yet the plan stays empty", async () => {
    const record = readFileSync(join(sandbox.dir, ".wfctl", "state", "default", "resources", "token.json"), "utf8");
    expect(record).not.toContain(SEALED);
    expect(record).toContain("$wfctl_sealed");
    const listed = await run(["infra", "state", "list", "-c", config, "--json"]);
    expect(listed.stdout + listed.stderr).not.toContain(SEALED);
    expectExit(await run(["infra", "plan", "-c", config, "--detailed-exitcode"]), 0);
    expectExit(await run(["infra", "drift", "-c", config, "--detailed-exitcode"]), 0);
    // It cannot be an output either: state does not have it.
    const output = join(sandbox.dir, "sealed-output.yaml");
    writeFileSync(output, `${CONFIG}  leaked:\n    source: token.content\n    sensitive: true\n`);
    const refused = await run(["infra", "outputs", "leaked", "-c", output]);
    expectExit(refused, 1);
    expect(refused.stderr).toContain('field "content" of resource "token" is sensitive configuration, which state keeps sealed');
    expect(refused.stdout + refused.stderr).not.toContain(SEALED);
    // And plan and apply say so first, at the output's line, rather than accept what outputs would refuse.
    const line = CONFIG.split("\n").length + 1;
    for (const command of [["plan"], ["apply", "--auto-approve"]]) {
      const early = await run(["infra", ...command, "-c", output]);
      expectExit(early, 1);
      expect(early.stderr).toContain(
        `Error: invalid configuration: ${output}:${line}:13: field "outputs.leaked.source": output "leaked": source "token.content" is the sensitive configuration field "content" ` +
          "of local.sensitive_file, which state keeps sealed (never the value), so no output can read it; use a field the provider returns (local.sensitive_file returns: absolute_path, sha256, size)",
      );
    }
  });

  it("masks sensitive values by default, in text and JSON", async () => {
    const text = await run(["infra", "outputs", "-c", config]);
    expectExit(text, 0);
    expect(text.stdout).toMatch(new RegExp(`^notes_path\\s+= "${join(sandbox.dir, "out", "notes.txt")}"$`, "m"));
    expect(text.stdout).toMatch(/^api_token\s+= <sensitive>$/m);
    expect(text.stdout).toMatch(/^db_password\s+= <sensitive>$/m);
    expect(text.stdout + text.stderr).not.toContain(TOKEN);
    expect(text.stdout + text.stderr).not.toContain(PASSWORD);

    const { value } = await sandbox.cli.json<Record<string, { sensitive: boolean; masked?: boolean; value?: unknown; source: string }>>(["infra", "outputs", "-c", config], { env: NOT_GHA });
    expect(value["api_token"]).toEqual({ sensitive: true, masked: true, source: "apikey.content" });
    expect(value["db_password"]).toEqual({ sensitive: true, masked: true, source: "dbpass.content" });
    expect(value["notes_path"]).toMatchObject({ sensitive: false, value: join(sandbox.dir, "out", "notes.txt"), description: "Where the notes are." });

    const one = await run(["infra", "outputs", "api_token", "-c", config]);
    expect(one.stdout).toBe("<sensitive>\n");
    expect(one.stderr).toContain("--show-sensitive");
  });

  it("shows sensitive values with --show-sensitive", async () => {
    const shown = await run(["infra", "outputs", "-c", config, "--show-sensitive"]);
    expectExit(shown, 0);
    expect(shown.stdout).toContain(`api_token   = "${TOKEN}"`);
    expect(shown.stdout).toContain(`db_password = "${PASSWORD}"`);
    const one = await run(["infra", "outputs", "db_password", "-c", config, "--show-sensitive"]);
    expect(one.stdout).toBe(`${PASSWORD}\n`);
  });

  it("under GITHUB_ACTIONS=true, writes ::add-mask:: on stderr for every sensitive value before anything else", async () => {
    for (const args of [["infra", "outputs", "-c", config], ["infra", "outputs", "-c", config, "--show-sensitive"]]) {
      // Both streams in one pipe, as the runner reads them: the masks come first.
      const merged = await runMerged(sandbox.cli.socket, args, { GITHUB_ACTIONS: "true" });
      expectExit(merged, 0);
      const lines = merged.stdout.split("\n");
      const tokenMask = lines.indexOf(`::add-mask::${TOKEN}`);
      const passwordMask = lines.indexOf(`::add-mask::${PASSWORD}`);
      expect(tokenMask, merged.stdout).toBeGreaterThanOrEqual(0);
      expect(passwordMask, merged.stdout).toBeGreaterThanOrEqual(0);
      const firstOther = lines.findIndex((l) => l !== "" && !l.startsWith("::add-mask::"));
      expect(Math.max(tokenMask, passwordMask)).toBeLessThan(firstOther);
      // Values that are not sensitive are not masked.
      expect(merged.stdout).not.toContain(`::add-mask::${join(sandbox.dir, "out", "notes.txt")}`);

      // Apart: the masks are on stderr, so stdout stays what scripts read.
      const apart = await run(args, { GITHUB_ACTIONS: "true" });
      expect(apart.stderr).toContain(`::add-mask::${TOKEN}`);
      expect(apart.stdout).not.toContain("::add-mask::");
    }
    // Without --show-sensitive the value is printed only inside the mask command.
    const masked = await runMerged(sandbox.cli.socket, ["infra", "outputs", "-c", config], { GITHUB_ACTIONS: "true" });
    expect(masked.stdout.split("\n").filter((l) => l.includes(TOKEN) && !l.startsWith("::add-mask::"))).toEqual([]);
    // One value for a script: stdout is the bare value, the mask went to stderr.
    const one = await run(["infra", "outputs", "api_token", "-c", config, "--show-sensitive"], { GITHUB_ACTIONS: "true" });
    expect(one.stdout).toBe(`${TOKEN}\n`);
    expect(one.stderr).toContain(`::add-mask::${TOKEN}`);
  });

  it("names the output and its declaration when it cannot be read", async () => {
    const unknown = await run(["infra", "outputs", "nope", "-c", config]);
    expectExit(unknown, 1);
    expect(unknown.stderr).toContain('no output named "nope" (declared: notes_path, api_token, db_password)');
  });

  it("without an outputs section, lists every resource's outputs, masking what the schema marks sensitive", async () => {
    const plain = join(sandbox.dir, "plain.yaml");
    writeFileSync(plain, CONFIG.slice(0, CONFIG.indexOf("outputs:")));
    const result = await run(["infra", "outputs", "-c", plain]);
    expectExit(result, 0);
    expect(result.stdout).toMatch(/^notes\.absolute_path\s+= ".*notes\.txt"$/m);
    expect(result.stdout).toMatch(/^token\.sha256\s+= "[0-9a-f]{64}"$/m);
    expect(result.stdout).not.toContain(SEALED);
  });
});

describe("refresh", () => {
  const sandbox = cliSandbox("wft-refresh-");
  let config: string;
  const run = (args: string[]) => sandbox.cli.run(args);
  const out = (path: string) => join(sandbox.dir, "out", path);
  const state = () => join(sandbox.dir, ".wfctl", "state");

  beforeAll(async () => {
    config = join(sandbox.dir, "infra.yaml");
    writeFileSync(config, CONFIG.slice(0, CONFIG.indexOf("outputs:")));
    expectExit(await run(["infra", "apply", "-c", config, "--auto-approve"]), 0);
    rmSync(out("notes.txt"));
    writeFileSync(out("dbpass.txt"), "rotated-by-hand");
  });

  it("without --auto-approve is a dry run: says what it would prune and update, changes nothing", async () => {
    const before = treeHash(state());
    const result = await run(["infra", "refresh", "-c", config]);
    expectExit(result, 0);
    expect(result.stdout).toContain("would prune notes (local.file)");
    expect(result.stdout).toContain("would update dbpass (local.file)");
    expect(result.stdout).toContain('content: recorded="pw-c0ffee-SECRET" read="rotated-by-hand"');
    expect(result.stdout).toContain("Dry run: nothing was changed");
    expect(treeHash(state())).toBe(before);
  });

  it("with --auto-approve, prunes the ghost (audit line), takes what the provider reads, and changes no resource", async () => {
    const result = await run(["infra", "refresh", "-c", config, "--auto-approve"]);
    expectExit(result, 0);
    expect(result.stderr).toMatch(/^\S+Z AUDIT prune operation="refresh" resource=notes type=local\.file environment=\(none\) caller=\S+ operation_id=\S+$/m);
    const { value } = await sandbox.cli.json<{ resources: { name: string }[] }>(["infra", "state", "list", "-c", config]);
    expect(value.resources.map((r) => r.name).sort()).toEqual(["apikey", "dbpass", "token"]);
    const record = JSON.parse(readFileSync(join(state(), "default", "resources", "dbpass.json"), "utf8")) as { config: { content: string } };
    expect(record.config.content).toBe("rotated-by-hand");
    // Refresh-only: the file deleted by hand stays deleted, the edit stays.
    expect(existsSync(out("notes.txt"))).toBe(false);
    expect(readFileSync(out("dbpass.txt"), "utf8")).toBe("rotated-by-hand");
    // State now matches what exists; the plan brings it back to the configuration.
    expectExit(await run(["infra", "drift", "-c", config, "--detailed-exitcode"]), 0);
    const plan = await run(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(plan, 2);
    expect(plan.stdout).toMatch(/\+\s+notes\s+local\.file/);
    expect(plan.stdout).toMatch(/~\s+dbpass\s+local\.file/);
  });

  it("a protected ghost blocks the refresh unless --allow-protected-prune", async () => {
    writeFileSync(config, readFileSync(config, "utf8").replace("  - name: token\n    type: local.sensitive_file\n", "  - name: token\n    type: local.sensitive_file\n    protected: true\n"));
    rmSync(out("token.txt"));
    const before = treeHash(state());
    const refused = await run(["infra", "refresh", "-c", config, "--auto-approve"]);
    expectExit(refused, 1);
    expect(refused.stderr).toContain("refusing to prune protected resource(s) from state: token (local.sensitive_file)");
    expect(treeHash(state())).toBe(before);
    const dry = await run(["infra", "refresh", "-c", config]);
    expect(dry.stdout).toContain("would NOT prune token (local.sensitive_file) [protected]");
    const allowed = await run(["infra", "refresh", "-c", config, "--auto-approve", "--allow-protected-prune"]);
    expectExit(allowed, 0);
    expect(allowed.stderr).toContain("resource=token");
  });
});
