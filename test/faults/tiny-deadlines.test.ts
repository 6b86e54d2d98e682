// Fault: deadlines that pass before a plugin is even asked for. Rounds of 8
// concurrent `infra plan --timeout 1ms` (and a few other tiny budgets) against
// one warm daemon: half of them on a configuration whose state-backend plugin
// can never start (its file changed since it was locked, so every start is
// refused), half on the quickstart with a fresh provider configuration each
// (a cold start each round). A start that a caller who had already given up
// set off, and that then failed, used to be an unhandled rejection that ended
// the daemon. Checked: the daemon is the same process afterwards and answers,
// each command failed cleanly (124, or 4 naming the backend that cannot
// start), and a normal plan then works.
import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CliResult, cliSandbox, expectExit } from "../helpers/cli.js";
import { FIXTURE_PLUGINS, QUICKSTART } from "../helpers/paths.js";

const ROUNDS = 2;
const BUDGETS = ["1ms", "1ms", "1ms", "1ms", "2ms", "5ms", "20ms", "50ms"];

describe("tiny --timeout budgets, many at once", () => {
  const sandbox = cliSandbox("wft-tiny-");

  /** A project whose state backend is a locked plugin that no longer matches its lockfile. */
  async function refusedBackendProject(): Promise<string> {
    const dir = join(sandbox.dir, "refused");
    mkdirSync(dir);
    const plugin = join(dir, "memory-state.mjs");
    writeFileSync(plugin, `// The project's state plugin.\nimport ${JSON.stringify(join(FIXTURE_PLUGINS, "memory-state.mjs"))};\n`);
    writeFileSync(join(dir, "wfctl.yaml"), "plugins:\n  - name: fixture-memory\n    kind: state_backend\n    source: ./memory-state.mjs\n");
    const quickstart = readFileSync(join(QUICKSTART, "infra.yaml"), "utf8");
    writeFileSync(join(dir, "infra.yaml"), quickstart.replace("backend: filesystem\n      directory: .wfctl/state", "backend: fixture-memory"));
    expectExit(await sandbox.cli.run(["plugins", "lock", "-c", join(dir, "infra.yaml")]), 0);
    appendFileSync(plugin, "// changed after locking\n");
    return join(dir, "infra.yaml");
  }

  /** The quickstart with a provider configuration no other round used: its plugin starts cold. */
  function freshQuickstart(name: string): string {
    const dir = join(sandbox.dir, name);
    mkdirSync(dir);
    const file = join(dir, "infra.yaml");
    cpSync(join(QUICKSTART, "infra.yaml"), file);
    return file;
  }

  /** Failed cleanly: the deadline (124), or the backend refused for its changed code named (1, PLUGIN_CHECKSUM_MISMATCH). */
  function expectCleanFailure(result: CliResult, config: string): void {
    const detail = `exit ${result.code} for ${config}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    if (result.code === 124) {
      expect(result.stderr, detail).toMatch(/deadline/i);
      return;
    }
    expect(result.code, detail).toBe(1);
    expect(result.stderr, detail).toContain("PLUGIN_CHECKSUM_MISMATCH");
    expect(result.stderr, detail).toContain('cannot open state backend "fixture-memory"');
    expect(result.stderr, detail).toContain("refusing to start");
  }

  it("leaves the daemon running; every command fails cleanly; a normal plan then works", async () => {
    const refused = await refusedBackendProject();
    const normal = freshQuickstart("normal");
    expectExit(await sandbox.cli.run(["infra", "plan", "-c", normal]), 0);
    const { value: before } = await sandbox.cli.json<{ pid: number }>(["daemon", "status"]);

    for (let round = 0; round < ROUNDS; round++) {
      const configs = BUDGETS.map((_, i) => (i % 2 === 0 ? refused : freshQuickstart(`round${round}-${i}`)));
      const results = await Promise.all(BUDGETS.map((budget, i) => sandbox.cli.run(["infra", "plan", "-c", configs[i] as string, "--timeout", budget])));
      results.forEach((result, i) => expectCleanFailure(result, configs[i] as string));
      const { result, value: status } = await sandbox.cli.json<{ pid: number; running: boolean }>(["daemon", "status"]);
      expectExit(result, 0);
      expect(status).toMatchObject({ running: true, pid: before.pid });
    }

    expectExit(await sandbox.cli.run(["infra", "plan", "-c", normal, "--detailed-exitcode"]), 2);
  });
});
