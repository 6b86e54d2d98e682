// wfctl deploy: commands that belong to a deploy. `deploy verify` runs the
// health checks of the configuration's verify: section (client/verify/run.ts,
// loaded only when the command runs, so other commands start without it).
import { Command, Option } from "commander";
import type { VerifyOptions } from "../verify/run.js";
import { environmentOption } from "./options.js";

type Run = (code: Promise<number>) => Promise<void>;

/** `wfctl deploy` and its subcommands. */
export function deployCommand(run: Run): Command {
  const deploy = new Command("deploy").description("checks that belong to a deploy");
  deploy
    .command("verify")
    .description("check the health targets of the configuration's verify: section; exit 1 if any stays unhealthy")
    .addOption(new Option("-c, --config <path>", "infrastructure configuration file").default("infra.yaml"))
    .addOption(environmentOption())
    .addOption(new Option("--target <name...>", "check only these targets (repeat the flag or separate names with commas)"))
    .addOption(new Option("--timeout <duration>", "deadline of the whole verify (overrides verify.timeout; e.g. 30s, 5m)"))
    .addOption(new Option("--json", "print one JSON document on stdout instead of the table"))
    .action((opts: VerifyOptions) => run(import("../verify/run.js").then(({ verify }) => verify(opts))));
  return deploy;
}
