// wfctl plugins list: what the daemon can run and what is running.
import { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { renderTable } from "../output/table.js";
import { type CommonOptions, type TargetOptions, callOptions, out, printJson, target, withConnection } from "../runtime.js";
import { withCommonOptions, withTargetOptions } from "./options.js";

async function list(opts: CommonOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const { plugins } = await client.listPlugins({}, callOptions(opts));
    if (opts.json) {
      printJson({
        plugins: plugins.map((p) => ({
          name: p.name,
          kind: p.kind,
          version: p.version,
          pid: p.pid,
          state: p.state,
          healthy: p.healthy,
          executable: p.executable,
          address: p.address,
          started_at: p.startedAt || undefined,
          restarts: p.restarts,
          protocol_version: p.protocolVersion,
          instance: p.instanceKey || undefined,
          last_error: p.lastError || undefined,
        })),
      });
      return EXIT.OK;
    }
    out(
      renderTable(
        ["name", "kind", "version", "pid", "state", "restarts", "instance", "started"],
        plugins.map((p) => [
          p.name,
          p.kind,
          p.version || "-",
          p.pid ? String(p.pid) : "-",
          p.state === "running" && !p.healthy ? "running (unhealthy)" : p.state,
          String(p.restarts),
          p.instanceKey || "-",
          p.startedAt || "-",
        ]),
      ),
    );
    for (const p of plugins.filter((x) => x.lastError)) out(`\n${p.name} (${p.instanceKey || "no instance"}): last error: ${p.lastError}\n`);
    return EXIT.OK;
  });
}

async function lock(opts: TargetOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const response = await client.lockPlugins({ target: target(opts) }, callOptions(opts));
    if (opts.json) {
      printJson({
        lockfile: response.lockfile,
        plugins: response.plugins.map((p) => ({ name: p.name, kind: p.kind, path: p.path, version: p.version, sha256: p.sha256 })),
      });
      return EXIT.OK;
    }
    out(
      renderTable(
        ["name", "kind", "version", "sha256", "path"],
        response.plugins.map((p) => [p.name, p.kind, p.version || "-", p.sha256.slice(0, 16), p.path]),
      ),
    );
    out(`\nWrote ${response.lockfile} (${response.plugins.length} plugin${response.plugins.length === 1 ? "" : "s"}).\n`);
    return EXIT.OK;
  });
}

export function pluginsCommand(run: (code: Promise<number>) => Promise<void>): Command {
  const plugins = new Command("plugins").description("inspect the plugins the daemon runs");
  withCommonOptions(plugins.command("list").description("list known plugins and their running instances")).action((opts: CommonOptions) =>
    run(list(opts)),
  );
  withTargetOptions(
    plugins
      .command("lock")
      .description("pin every plugin of the wfctl.yaml beside the configuration: write .wfctl-lock.yaml with each one's path, version and sha256"),
  ).action((opts: TargetOptions) => run(lock(opts)));
  return plugins;
}
