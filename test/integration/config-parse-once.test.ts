// A command parses its configuration once: the client's EnvironmentNames
// question has the daemon parse and check the file, and the operation that
// follows on the same text reuses that (a 10,000-resource file took a
// worker 1.6 s per parse). The daemon's debug log says each time it parses
// a file and each time it reuses one; a file edited between the question
// and the operation is read and parsed again, and the operation sees the
// edit. A file that does not check still gets its names, and the operation
// then reports its problem by file and line.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cli, expectExit } from "../helpers/cli.js";
import { type StartedDaemon, daemonClient, startWfctld } from "../helpers/wfctld.js";

interface LogLine {
  msg?: string;
  file?: string;
  for?: string;
}

function configText(names: string[]): string {
  const files = names.map((name) => `  - name: ${name}\n    type: local.file\n    provider: local\n    config: { path: ${name}.txt, content: "${name}" }\n`);
  return `modules:\n  - name: state\n    type: iac.state\n    config: { backend: memory }\n  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n${files.join("")}`;
}

describe("one parse per command", () => {
  let daemon: StartedDaemon;
  beforeAll(async () => {
    daemon = await startWfctld(["--log-level", "debug"], "wft-parse-once-");
  });
  afterAll(() => daemon?.stop());

  /** The daemon's log lines about `file`: "configuration parsed" (with what for) and "… reused". */
  const logFor = (file: string) =>
    daemon
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as LogLine)
      .filter((line) => line.file === file && line.msg?.startsWith("configuration"));
  const client = () => daemonClient(daemon.socket);

  it("wfctl infra plan parses a file the daemon has not seen once, for EnvironmentNames, and the plan reuses it", async () => {
    const config = join(daemon.dir, "first.yaml");
    writeFileSync(config, configText(["a1", "a2", "a3"]));
    const result = await new Cli(daemon.dir).run(["infra", "plan", "-c", config, "--detailed-exitcode"]);
    expectExit(result, 2);
    expect(result.stdout).toContain("a3");
    const lines = logFor(config);
    expect(lines.filter((l) => l.msg === "configuration parsed").map((l) => l.for)).toEqual(["environment-names"]);
    expect(lines.map((l) => l.msg)).toContain("configuration unchanged since it was parsed: reused");
  });

  it("a file edited between EnvironmentNames and the plan is parsed again, and the plan has the edit", async () => {
    const config = join(daemon.dir, "edited.yaml");
    writeFileSync(config, configText(["b1", "b2"]));
    const daemonApi = client();
    await daemonApi.environmentNames({ target: { configPath: config } });
    // Same length, same second: only the text tells the two apart.
    writeFileSync(config, configText(["b1", "c2"]));
    const { plan } = await daemonApi.plan({ target: { configPath: config } });
    expect(plan?.changes.map((c) => c.name).sort()).toEqual(["b1", "c2"]);
    expect(logFor(config).filter((l) => l.msg === "configuration parsed").map((l) => l.for)).toEqual(["environment-names", "operation"]);
  });

  it("a file that does not check still gets its names, and the plan says what is wrong with it by line", async () => {
    const config = join(daemon.dir, "invalid.yaml");
    writeFileSync(config, `${configText(["d1"])}  - name: d2\n    type: local.file\n    provider: local\n    config: { path: d2.txt, content_env: D2_CONTENT }\n    colour: blue\n`);
    const { names } = await client().environmentNames({ target: { configPath: config } });
    expect(names).toContain("D2_CONTENT");
    const result = await new Cli(daemon.dir).run(["infra", "plan", "-c", config]);
    expectExit(result, 1);
    expect(result.stderr).toContain(`${config}:12:5: module "d2"`);
    expect(result.stderr).toContain('unknown key(s) "colour"');
  });
});
