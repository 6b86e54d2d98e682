// --target and --replace: the part of a stack a plan or an apply acts on, as
// Terraform's -target and -replace (the daemon checks the names).
import { type Command, Option } from "commander";

/** The flags, as given. */
export interface ScopeOptions {
  target?: string[];
  replace?: string[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds --target and --replace (both repeatable). */
export function withScopeOptions(command: Command): Command {
  return command
    .addOption(new Option("--target <name>", "only this resource and what it depends on (repeatable); the result is partial").argParser(collect))
    .addOption(new Option("--replace <name>", "replace this resource even if nothing changed (repeatable)").argParser(collect));
}

/** The scope fields of a PlanRequest or ApplyRequest. */
export function scopeOf(opts: ScopeOptions): { targets: string[]; replace: string[] } {
  return { targets: opts.target ?? [], replace: opts.replace ?? [] };
}
