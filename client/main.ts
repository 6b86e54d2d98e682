// wfctl: the short-lived client. Parses the command line, runs the command
// against the warm daemon (or in-process with --no-daemon), prints results,
// and exits with a code that says what happened.
import { Command, CommanderError } from "commander";
import { fromConnectError } from "../proto/connect-errors.js";
import { WFCTL_VERSION } from "../proto/versions.js";
import { daemonCommand } from "./commands/daemon.js";
import { infraCommand } from "./commands/infra.js";
import { pluginsCommand } from "./commands/plugins.js";
import { EXIT, exitCodeFor } from "./exit-codes.js";

const wantsJson = process.argv.includes("--json");

function report(err: unknown): number {
  const error = fromConnectError(err);
  process.stderr.write(`Error: ${error.message}\n`);
  if (wantsJson) {
    process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message, details: error.details } }, null, 2)}\n`);
  }
  return exitCodeFor(error.code);
}

async function run(code: Promise<number>): Promise<void> {
  let exit: number;
  try {
    exit = await code;
  } catch (err) {
    exit = report(err);
  }
  process.exitCode = exit;
}

const program = new Command()
  .name("wfctl")
  .description("Infrastructure as code through a warm plugin-host daemon (wfctld).")
  .version(WFCTL_VERSION);
program.addCommand(infraCommand(run));
program.addCommand(pluginsCommand(run));
program.addCommand(daemonCommand(run));
// Settings are not inherited by commands built apart and added: apply them everywhere.
const configure = (command: Command): void => {
  command.exitOverride().showHelpAfterError("(run with --help for usage)");
  command.commands.forEach(configure);
};
configure(program);

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are successes; anything else commander rejects is a usage error.
    process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    process.exitCode = report(err);
  }
}
// Exit now rather than waiting for idle keep-alive sockets to time out.
process.exit(process.exitCode ?? EXIT.OK);
