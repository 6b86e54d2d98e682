// Every command says what its first Ctrl-C stops (client/interrupts.ts): one
// missing from the table would claim nothing, and one that only reads must
// never claim that changes were stopped.
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { daemonCommand } from "../../client/commands/daemon.js";
import { deployCommand } from "../../client/commands/deploy.js";
import { infraCommand } from "../../client/commands/infra.js";
import { pluginsCommand } from "../../client/commands/plugins.js";
import { CHANGES_STOPPED, commandPath, interruptionOf, listed } from "../../client/interrupts.js";

/** The program as main.ts builds it. */
function program(): Command {
  const run = async (code: Promise<number>) => void (await code.catch(() => 1));
  const root = new Command("wfctl");
  for (const command of [infraCommand(run), deployCommand(run), pluginsCommand(run), daemonCommand(run)]) root.addCommand(command);
  return root;
}

const leaves = (command: Command): Command[] => (command.commands.length === 0 ? [command] : command.commands.flatMap(leaves));

/** The command at `path`, its flags parsed from `args`. */
function parsed(path: string, args: string[]): Command {
  const root = program();
  const command = leaves(root).find((c) => commandPath(c) === path);
  if (!command) throw new Error(`no command ${path}`);
  command.action(() => {});
  root.parse([...path.split(" "), ...args], { from: "user" });
  return command;
}

describe("what the first Ctrl-C says", () => {
  it("every command is in the table", () => {
    const paths = leaves(program()).map(commandPath);
    expect(paths).toContain("plugins logs");
    expect(paths.filter((p) => !listed(p))).toEqual([]);
  });

  it("only commands that change resources or state through an operation say changes in progress are stopped", () => {
    const changing: [string, string[]][] = [
      ["infra apply", ["--auto-approve"]],
      ["infra apply", ["--refresh", "--auto-approve"]],
      ["infra destroy", ["--auto-approve"]],
      ["infra refresh", ["--auto-approve"]],
      ["infra teardown", ["--approve"]],
    ];
    for (const [path, args] of changing) expect(interruptionOf(parsed(path, args)), `${path} ${args.join(" ")}`).toBe(CHANGES_STOPPED);
    const reading: [string, string[]][] = [
      ["infra plan", []],
      ["infra plan", ["--destroy"]],
      ["infra apply", ["--refresh"]],
      // Asking first: until approved (when the command switches to CHANGES_STOPPED), nothing is changed.
      ["infra apply", []],
      ["infra destroy", []],
      ["infra teardown", []],
      ["infra refresh", []],
      ["infra drift", []],
      ["infra teardown", ["--dry-run"]],
      ["infra outputs", []],
      ["infra state list", []],
      ["plugins list", []],
      ["plugins logs", ["x", "--follow"]],
      ["daemon status", []],
    ];
    for (const [path, args] of reading) {
      const what = interruptionOf(parsed(path, args));
      expect(what.line, `${path} ${args.join(" ")}`).toContain("nothing was");
      expect(what.line, `${path} ${args.join(" ")}`).not.toContain("recorded in state");
    }
  });

  it("following logs ends at once: no second Ctrl-C to ask for", () => {
    expect(interruptionOf(parsed("plugins logs", ["x", "--follow"]))).toEqual({ line: "stopped following the logs; nothing was changed", waits: false });
    expect(interruptionOf(parsed("infra plan", [])).waits).toBe(true);
  });
});
