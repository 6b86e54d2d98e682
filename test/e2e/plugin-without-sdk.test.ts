// Language neutrality, proven: examples/plugin-without-sdk holds a provider
// and a state backend written in plain JavaScript with @grpc/grpc-js and
// @grpc/proto-loader only (no SDK, no generated code, nothing of this
// repository's TypeScript). Both pass their conformance kits over gRPC, and
// the example's configuration runs plan, apply, drift and destroy through
// the real CLI and daemon, with those plugins locked from its wfctl.yaml.
import { cpSync, existsSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { startPlugin, startStateStore } from "../../plugins/conformance/plugin-process.js";
import type { CreatedResource } from "../../plugins/conformance/provider.js";
import { describeProviderConformance, describeStateBackendConformance } from "../../plugins/conformance/vitest.js";
import { cliSandbox, expectExit } from "../helpers/cli.js";
import { ROOT, tempDir } from "../helpers/paths.js";

const EXAMPLE = join(ROOT, "examples", "plugin-without-sdk");
const work = tempDir("wft-nosdk-");
afterAll(() => work.cleanup());

const removeFile = ({ providerId }: CreatedResource) => rm(providerId);

describeProviderConformance("jsfiles (plain JavaScript, no SDK)", {
  resources: {
    "jsfiles.file": {
      name: "kit-file",
      create: (name) => ({ path: `${name}.txt`, content: "one\n" }),
      update: (name) => ({ path: `${name}.txt`, content: "two\n", mode: "0600" }),
      replace: (name) => ({ path: `moved/${name}.txt`, content: "two\n", mode: "0600" }),
      outOfBandDelete: removeFile,
    },
    "jsfiles.secret_file": {
      name: "kit-secret",
      create: (name) => ({ path: `${name}.key`, content: "s3cret" }),
      update: (name) => ({ path: `${name}.key`, content: "rotated" }),
      replace: (name) => ({ path: `moved/${name}.key`, content: "rotated" }),
      outOfBandDelete: removeFile,
    },
  },
  async connect() {
    const plugin = await startPlugin({ source: join(EXAMPLE, "provider.mjs") });
    return plugin.provider({ config: { root: "managed" }, workingDir: work.path });
  },
});

let namespaces = 0;
describeStateBackendConformance("jsondir (plain JavaScript, no SDK)", () =>
  startStateStore({ source: join(EXAMPLE, "state-backend.mjs") }, { backend: "jsondir", config: { directory: "state" }, namespace: `check-${++namespaces}`, workingDir: work.path }),
);

interface PlanJson {
  changes: { name: string; type: string; action: string; fields?: { field: string; before?: unknown; after?: unknown; sensitive?: boolean }[] }[];
}
interface DriftJson {
  results: { name: string; type: string; class?: string; drifted: boolean; fields: { field: string; expected: unknown; actual: unknown }[] }[];
}

describe("the example configuration through the CLI and the daemon", () => {
  const sandbox = cliSandbox("wft-nosdk-cli-");
  let dir: string;
  let config: string;
  const out = (file: string) => join(dir, "out", "site", file);
  const stateFiles = () => {
    const records = join(dir, ".wfctl", "state", "default", "records");
    return existsSync(records) ? readdirSync(records).sort() : [];
  };
  const run = (args: string[]) => sandbox.cli.run([...args, "-c", config]);

  beforeAll(() => {
    // Laid out as in the repository, so the plugins find ../../proto and the npm packages.
    dir = join(sandbox.dir, "examples", "plugin-without-sdk");
    cpSync(EXAMPLE, dir, { recursive: true, filter: (path) => !/\/(out|\.wfctl)(\/|$)|\.wfctl-lock\.yaml$/.test(path) });
    symlinkSync(join(ROOT, "proto"), join(sandbox.dir, "proto"));
    symlinkSync(join(ROOT, "node_modules"), join(sandbox.dir, "node_modules"));
    config = join(dir, "infra.yaml");
  });

  it("plugins lock pins both plugins as they answer: name, version, no host variables", async () => {
    expectExit(await run(["plugins", "lock"]), 0);
    const lock = parse(readFileSync(join(dir, ".wfctl-lock.yaml"), "utf8")) as { plugins: Record<string, { kind: string; version: string; reads_env: string[] }> };
    expect(lock.plugins["jsfiles"]).toMatchObject({ kind: "provider", version: "1.0.0", reads_env: [] });
    expect(lock.plugins["jsondir"]).toMatchObject({ kind: "state_backend", version: "1.0.0", reads_env: [] });
  });

  it("plans two creates, the secret's content masked; apply makes the files and records them, the secret only sealed", async () => {
    const { result, report } = await sandbox.cli.events<PlanJson>(["infra", "plan", "-c", config]);
    expectExit(result, 0);
    expect(report.changes.map((c) => [c.name, c.type, c.action])).toEqual([
      ["notice", "jsfiles.file", "create"],
      ["token", "jsfiles.secret_file", "create"],
    ]);
    expect(result.stdout).not.toContain("example-token-4f1c");

    expectExit(await run(["infra", "apply", "--auto-approve"]), 0);
    expect(readFileSync(out("NOTICE.txt"), "utf8")).toBe("Written by jsfiles, a wfctl plugin made without the SDK.\n");
    expect(readFileSync(out("token"), "utf8")).toBe("example-token-4f1c");
    // The schema's defaults reached the plugin: 0644 for a file, 0600 for a secret one.
    expect(statSync(out("NOTICE.txt")).mode & 0o777).toBe(0o644);
    expect(statSync(out("token")).mode & 0o777).toBe(0o600);
    expect(stateFiles()).toEqual(["notice.json", "token.json"]);
    const token = readFileSync(join(dir, ".wfctl", "state", "default", "records", "token.json"), "utf8");
    expect(token).not.toContain("example-token-4f1c");
    expect(token).toContain("$wfctl_sealed");
  });

  it("a second plan has no changes: the daemon settles the sealed secret the plugin compares plainly", async () => {
    expectExit(await run(["infra", "plan", "--detailed-exitcode"]), 0);
  });

  it("drift: a file edited out of band is config drift; the untouched secret is in sync, though the plugin saw its seal differ", async () => {
    writeFileSync(out("NOTICE.txt"), "edited by hand\n");
    const { result, value } = await sandbox.cli.json<DriftJson>(["infra", "drift", "-c", config]);
    expectExit(result, 0);
    const byName = Object.fromEntries(value.results.map((r) => [r.name, r]));
    expect(byName["notice"]).toMatchObject({ class: "config", drifted: true });
    expect(byName["notice"]?.fields).toEqual([{ field: "content", expected: "Written by jsfiles, a wfctl plugin made without the SDK.\n", actual: "edited by hand\n" }]);
    expect(byName["token"]).toMatchObject({ class: "in-sync", drifted: false, fields: [] });

    // An edited secret is drift too, and masked.
    writeFileSync(out("token"), "leaked-and-replaced");
    const text = await run(["infra", "drift", "--detailed-exitcode"]);
    expectExit(text, 2);
    expect(text.stdout).toMatch(/^CONFIG\s+token\s+jsfiles\.secret_file$/m);
    expect(text.stdout).not.toContain("leaked-and-replaced");
    expect(text.stdout).not.toContain("example-token-4f1c");
  });

  it("apply puts both files back; destroy removes them and empties state", async () => {
    expectExit(await run(["infra", "apply", "--auto-approve"]), 0);
    expect(readFileSync(out("NOTICE.txt"), "utf8")).toBe("Written by jsfiles, a wfctl plugin made without the SDK.\n");
    expect(readFileSync(out("token"), "utf8")).toBe("example-token-4f1c");
    expectExit(await run(["infra", "destroy", "--auto-approve"]), 0);
    expect(existsSync(out("NOTICE.txt"))).toBe(false);
    expect(existsSync(out("token"))).toBe(false);
    expect(stateFiles()).toEqual([]);
    // No lock is left behind.
    expect(readdirSync(join(dir, ".wfctl", "state", "default", "locks"))).toEqual([]);
  });
});
