// Responses past the old 64 MiB client limit. An apply's report carries its
// plan, every planned value included: 17 files of 4 MiB make a 68 MiB report.
// The daemon did the work and recorded it, then the client refused the report
// (`message is larger than configured readMaxBytes`, exit 1). The client now
// reads what the daemon may send (protobuf's 2 GiB − 1, MAX_RESPONSE_BYTES),
// over the socket as in-process (daemon/inprocess.ts takes the same limit).
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cli, expectExit } from "../helpers/cli.js";
import { type StartedDaemon, startWfctld } from "../helpers/wfctld.js";

const FILES = 17;
const SIZE = 4 * 1024 * 1024;

/**
 * One 4 MiB string, written once and reused through a YAML anchor: 68 MiB
 * once expanded, past the 10 MiB aliases may expand a file to by default, so
 * the daemon runs with --max-config-bytes 80MiB.
 */
function config(fill: string): string {
  let text =
    "modules:\n" +
    "  - name: state\n    type: iac.state\n    config: { backend: filesystem, directory: .wfctl/state }\n" +
    "  - name: local\n    type: iac.provider\n    config: { provider: local, root: out }\n";
  for (let i = 0; i < FILES; i++) {
    const content = i === 0 ? `&big "${fill.repeat(SIZE)}"` : "*big";
    text += `  - name: f${i}\n    type: local.file\n    provider: local\n    config: { path: f${i}.txt, content: ${content} }\n`;
  }
  return text;
}

describe("responses over 64 MiB", () => {
  let daemon: StartedDaemon;
  let cli: Cli;
  beforeAll(async () => {
    daemon = await startWfctld(["--max-config-bytes", "80MiB"], "wft-big-");
    cli = new Cli(daemon.dir);
  });
  afterAll(async () => {
    await daemon?.stop();
  });
  const sandbox = {
    get dir() {
      return daemon.dir;
    },
    get cli() {
      return cli;
    },
  };

  it(`an apply of ${FILES} files of 4 MiB gets its report through the socket`, { timeout: 300_000 }, async () => {
    const file = join(sandbox.dir, "infra.yaml");
    writeFileSync(file, config("a"));
    const applied = await sandbox.cli.run(["infra", "apply", "-c", file, "--auto-approve"], { timeoutMs: 280_000 });
    expectExit(applied, 0);
    // Only the end: the plan printed before it is 68 MiB.
    expect(applied.stdout.slice(-300)).toContain(`Apply complete: ${FILES} created`);
    expect(statSync(join(sandbox.dir, "out", "f16.txt")).size).toBe(SIZE);
    const { value } = await sandbox.cli.json<{ resources: unknown[] }>(["infra", "state", "list", "-c", file]);
    expect(value.resources).toHaveLength(FILES);
  });
});
