// wfctl plugins install / plugins lock: a project's plugins installed and
// pinned, as Terraform's init and `providers lock` do. install runs npm here,
// in the client, as the user with the user's npm configuration (the install
// code lives in daemon/supervisor/install.ts, loaded only for this command);
// the daemon then starts each plugin once and writes .wfctl-lock.yaml.
import { dirname, resolve } from "node:path";
import { Command, Option } from "commander";
import { LockMode, type LockPluginsResponse } from "../../proto/gen/wfctl/daemon/v1/daemon_pb.js";
import { EXIT } from "../exit-codes.js";
import { renderTable } from "../output/table.js";
import { type TargetOptions, callOptions, interrupt, out, printJson, target, withConnection } from "../runtime.js";
import type { Installed } from "../../daemon/inprocess.js";
import { withTargetOptions } from "./options.js";

interface LockOptions extends TargetOptions {
  check?: boolean;
}

interface InstallOptions extends TargetOptions {
  upgrade?: boolean;
  locked?: boolean;
}

function report(response: LockPluginsResponse, opts: TargetOptions, wrote: boolean): void {
  if (opts.json) {
    printJson({
      lockfile: response.lockfile,
      up_to_date: response.differences.length === 0,
      differences: response.differences,
      plugins: response.plugins.map((p) => ({ name: p.name, kind: p.kind, path: p.path, version: p.version, checksum: p.checksum, platforms: p.platforms })),
    });
    return;
  }
  out(
    renderTable(
      ["name", "kind", "version", "checksum", "platforms", "path"],
      response.plugins.map((p) => [p.name, p.kind, p.version || "-", p.checksum.slice(0, 23), p.platforms.join(","), p.path]),
    ),
  );
  const count = `${response.plugins.length} plugin${response.plugins.length === 1 ? "" : "s"}`;
  if (wrote) out(`\nWrote ${response.lockfile} (${count}).\n`);
  else if (response.differences.length === 0) out(`\n${response.lockfile} is up to date (${count}).\n`);
  else out(`\n${response.lockfile} is out of date:\n${response.differences.map((d) => `  - ${d}\n`).join("")}Run \`wfctl plugins lock\` (or \`wfctl plugins install\`) and commit it.\n`);
}

async function lock(opts: LockOptions): Promise<number> {
  return withConnection(opts, async ({ client }) => {
    const response = await client.lockPlugins({ target: target(opts), mode: opts.check ? LockMode.CHECK : LockMode.UNSPECIFIED }, callOptions(opts));
    report(response, opts, !opts.check);
    return response.differences.length === 0 ? EXIT.OK : EXIT.ERROR;
  });
}

/**
 * Installs every package plugin, then has the daemon lock them. If the lock
 * refuses what was installed (or, with --locked, the lockfile does not
 * already pin exactly that), every plugin installed before comes back, so a
 * refused install leaves the project as it was.
 */
async function install(opts: InstallOptions): Promise<number> {
  const dir = dirname(resolve(opts.config));
  const { installSteps, installOne } = await import("../../daemon/inprocess.js");
  const steps = await installSteps(dir, opts.upgrade ?? false);
  // npm's own output goes to stderr, so that --json keeps stdout to the report.
  const output = (chunk: string) => void process.stderr.write(chunk);
  const done: Installed[] = [];
  const undo = async () => {
    for (const installed of done.reverse()) await installed.undo();
  };
  try {
    for (const step of steps) {
      process.stderr.write(`Installing plugin "${step.name}": ${step.spec} into ${step.prefix}\n`);
      done.push(await installOne(step, { output, signal: interrupt.signal }));
    }
    const mode = opts.locked ? LockMode.CHECK : opts.upgrade ? LockMode.UNSPECIFIED : LockMode.INSTALL;
    const code = await withConnection(opts, async ({ client }) => {
      const response = await client.lockPlugins({ target: target(opts), mode }, callOptions(opts));
      report(response, opts, !opts.locked);
      return response.differences.length === 0 ? EXIT.OK : EXIT.ERROR;
    });
    if (code !== EXIT.OK) await undo();
    else for (const installed of done) await installed.keep();
    return code;
  } catch (err) {
    await undo();
    throw err;
  }
}

export function lockCommands(plugins: Command, run: (code: Promise<number>) => Promise<void>): void {
  withTargetOptions(
    plugins
      .command("install")
      .description(
        "install the package: plugins of the wfctl.yaml beside the configuration into .wfctl/plugins/<name> (npm, from the registry or a from: tarball or folder), then pin them in .wfctl-lock.yaml",
      )
      .addOption(new Option("--upgrade", "take the newest version allowed and pin whatever code it has, instead of the versions and checksums the lockfile pins"))
      .addOption(
        new Option("--locked", "install exactly what .wfctl-lock.yaml pins and write nothing: exit 1, leaving the plugins as they were, if anything installed differs from it (for CI)").conflicts(
          "upgrade",
        ),
      ),
  ).action((opts: InstallOptions) => run(install(opts)));
  withTargetOptions(
    plugins
      .command("lock")
      .description("pin every plugin of the wfctl.yaml beside the configuration: write .wfctl-lock.yaml with each one's path, version and checksum of all its code")
      .addOption(new Option("--check", "write nothing; exit 1 and list the differences when .wfctl-lock.yaml is not what lock would write (for CI)")),
  ).action((opts: LockOptions) => run(lock(opts)));
}
