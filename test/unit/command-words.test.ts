// The command words a trace names a command by: never an argument or a flag's value.
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { commandWords } from "../../client/command-words.js";

function program(): Command {
  const root = new Command("wfctl");
  const infra = root.command("infra");
  infra.command("plan").option("--var <assignment>").option("-c, --config <path>");
  infra.command("state").command("rm").argument("<names...>");
  return root;
}

describe("commandWords", () => {
  it("names the command, not a variable's value, a path or an argument", () => {
    expect(commandWords(program(), ["infra", "plan", "--var", "db_password=hunter2", "-c", "x.yaml"])).toEqual(["infra", "plan"]);
    expect(commandWords(program(), ["infra", "plan", "--var=db_password=hunter2", "extra"])).toEqual(["infra", "plan"]);
    expect(commandWords(program(), ["infra", "state", "rm", "secret-name"])).toEqual(["infra", "state", "rm"]);
  });

  it("stops at the first word that is no command", () => {
    expect(commandWords(program(), ["db_password=hunter2", "infra", "plan"])).toEqual([]);
  });
});
