// What a command is called in traces: its command words only.
import type { Command } from "commander";

/**
 * The command's words in argv (`infra state rm`): names of commands only,
 * never an argument or a flag's value (`--var db_password=…` must not reach
 * a span).
 */
export function commandWords(root: Command, argv: readonly string[]): string[] {
  const words: string[] = [];
  let command = root;
  for (const arg of argv) {
    if (arg.startsWith("-")) continue;
    const sub = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) break;
    words.push(sub.name());
    command = sub;
  }
  return words;
}
