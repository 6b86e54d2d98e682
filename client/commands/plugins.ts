// wfctl plugins list / inspect / logs: what the daemon can run and what is
// running (install and lock: plugins-lock.ts).
import { Command, Option } from "commander";
import { EXIT } from "../exit-codes.js";
import { renderTable } from "../output/table.js";
import { type CommonOptions, callOptions, interrupt, out, printJson, withConnection } from "../runtime.js";
import { positiveInt, withCommonOptions } from "./options.js";
import { lockCommands } from "./plugins-lock.js";

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
          uptime_seconds: Math.round(p.uptimeSeconds),
          source: p.source,
          package: p.package || undefined,
          protocol_version: p.protocolVersion,
          instance: p.instanceKey || undefined,
          last_error: p.lastError || undefined,
        })),
      });
      return EXIT.OK;
    }
    out(
      renderTable(
        ["name", "kind", "version", "pid", "state", "restarts", "instance", "started", "source"],
        plugins.map((p) => [
          p.name,
          p.kind,
          p.version || "-",
          p.pid ? String(p.pid) : "-",
          p.state === "running" && !p.healthy ? "running (unhealthy)" : p.state,
          String(p.restarts),
          p.instanceKey || "-",
          p.startedAt || "-",
          // A cloud plugin: the npm package it ships as; else where it is declared.
          p.package ? `npm ${p.package}` : p.source,
        ]),
      ),
    );
    for (const p of plugins.filter((x) => x.lastError)) out(`\n${p.name} (${p.instanceKey || "no instance"}): last error: ${p.lastError}\n`);
    if (plugins.some((p) => p.state === "not_installed")) {
      out("\nnot_installed: a plugin that ships as the npm package shown, not inside wfctl. To use one, declare it in the wfctl.yaml beside your infra.yaml and run `wfctl plugins install`.\n");
    }
    return EXIT.OK;
  });
}

interface InspectOptions extends CommonOptions {
  tail?: number;
}

async function inspect(name: string, opts: InspectOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const { plugins } = await client.inspectPlugin({ name }, callOptions(opts));
    if (opts.json) {
      printJson({
        plugins: plugins.map((d) => ({
          name: d.status?.name,
          kind: d.status?.kind,
          version: d.status?.version,
          protocol_version: d.status?.protocolVersion,
          pid: d.status?.pid,
          state: d.status?.state,
          healthy: d.status?.healthy,
          uptime_seconds: Math.round(d.status?.uptimeSeconds ?? 0),
          restarts: d.status?.restarts,
          last_error: d.status?.lastError || undefined,
          instance: d.status?.instanceKey || undefined,
          source: d.status?.source,
          executable: d.status?.executable,
          args: d.args,
          address: d.status?.address || undefined,
          checksum: d.checksum,
          lockfile: d.lockfile || undefined,
          services: d.services,
          resource_types: d.resourceTypes.map((t) => ({ type: t.type, description: t.description, fields: t.fields })),
          state_backends: d.stateBackends,
          recent_logs: d.status?.recentLogs ?? [],
        })),
      });
      return EXIT.OK;
    }
    for (const d of plugins) {
      const st = d.status;
      if (!st) continue;
      const lines = [
        `${st.name} (${st.kind})${st.instanceKey ? ` instance ${st.instanceKey}` : ""}`,
        `  state:      ${st.state}${st.state === "running" ? (st.healthy ? ", healthy" : ", UNHEALTHY") : ""}${st.pid ? `, pid ${st.pid}, up ${Math.round(st.uptimeSeconds)} s` : ""}`,
        `  version:    ${st.version || "-"} (protocol ${st.protocolVersion || "-"})`,
        `  restarts:   ${st.restarts}${st.lastError ? `; last error: ${st.lastError}` : ""}`,
        `  source:     ${st.source}`,
        `  executable: ${[st.executable, ...d.args].join(" ")}`,
        `  checksum:   ${d.checksum || "-"}${d.lockfile ? ` (pinned by ${d.lockfile})` : ""}`,
      ];
      if (d.services.length > 0) lines.push(`  serves:     ${d.services.join(", ")}`);
      for (const t of d.resourceTypes) lines.push(`  resource:   ${t.type} (${t.fields.join(", ")})${t.description ? ` - ${t.description}` : ""}`);
      if (d.stateBackends.length > 0) lines.push(`  backends:   ${d.stateBackends.join(", ")}`);
      const logs = (st.recentLogs ?? []).slice(-(opts.tail ?? 10));
      if (logs.length > 0) lines.push("  recent log lines:", ...logs.map((l) => `    ${l}`));
      out(`${lines.join("\n")}\n\n`);
    }
    return EXIT.OK;
  });
}

interface LogsOptions extends CommonOptions {
  follow?: boolean;
  tail?: number;
}

async function logs(name: string, opts: LogsOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    try {
      for await (const l of client.pluginLogs({ name, tail: opts.tail ?? 50, follow: opts.follow ?? false }, { signal: interrupt.signal })) {
        if (opts.json) out(`${JSON.stringify({ plugin: l.plugin, pid: l.pid, instance: l.instance, time: l.time, source: l.source, line: l.line })}\n`);
        else out(`${l.time} ${l.plugin}[${l.pid}] ${l.line}\n`);
      }
    } catch (err) {
      if (!interrupt.signal.aborted) throw err;
    }
    // Ctrl-C is how --follow ends: exit as an interrupted command does.
    return interrupt.signal.aborted ? EXIT.CANCELLED : EXIT.OK;
  });
}

export function pluginsCommand(run: (code: Promise<number>) => Promise<void>): Command {
  const plugins = new Command("plugins").description("install, pin and inspect the plugins the daemon runs");
  withCommonOptions(plugins.command("list").description("list known plugins and their running instances")).action((opts: CommonOptions) =>
    run(list(opts)),
  );
  withCommonOptions(
    plugins
      .command("inspect")
      .argument("<name>", "plugin name")
      .description("one plugin in detail: state, version, checksum, what it serves, recent log lines")
      .addOption(new Option("--tail <n>", "recent log lines to show").argParser(positiveInt("--tail"))),
  ).action((name: string, opts: InspectOptions) => run(inspect(name, opts)));
  withCommonOptions(
    plugins
      .command("logs")
      .argument("<name>", "plugin name")
      .description("a plugin's log lines (every instance); --follow keeps printing new ones")
      .addOption(new Option("-f, --follow", "keep printing new lines until Ctrl-C"))
      .addOption(new Option("--tail <n>", "recent lines to print first (default 50)").argParser(positiveInt("--tail"))),
  ).action((name: string, opts: LogsOptions) => run(logs(name, opts)));
  lockCommands(plugins, run);
  return plugins;
}
