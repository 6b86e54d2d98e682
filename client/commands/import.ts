// wfctl infra import NAME PROVIDER_ID: adopt a resource that exists (made by
// hand, or by another tool) into state under the configuration's name for
// it. Its provider reads it by its id; a plan afterwards shows only how the
// configuration differs from what exists.
import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { auditLine } from "../output/drift.js";
import { stateHeader } from "../output/state.js";
import { type TargetOptions, caller, out, printJson, stoppableOperation, target, withTarget } from "../runtime.js";
import { withTargetOptions } from "./options.js";

async function importResource(name: string, providerId: string, opts: TargetOptions): Promise<number> {
  const command = "wfctl infra import";
  return withTarget(opts, command, async (connection) => {
    const op = stoppableOperation(opts, connection);
    try {
      const response = await connection.client.importResource(
        { target: target(opts), caller: caller(command), operation: op.operation, name, providerId },
        op.options,
      );
      if (response.audit) process.stderr.write(auditLine(response.audit));
      const r = response.resource;
      if (opts.json) {
        printJson({
          imported: name,
          type: r?.type ?? "",
          provider: r?.provider ?? "",
          provider_id: r?.providerId ?? providerId,
          outputs: JSON.parse(r?.outputsJson || "{}") as unknown,
          backend: response.backend,
          namespace: response.namespace,
        });
      } else {
        process.stderr.write(stateHeader(response.backend, response.namespace, false));
        out(`Imported ${name} (${r?.type ?? "?"}, provider id ${r?.providerId ?? providerId}) into state.\nRun \`wfctl infra plan\` to see how the configuration differs from what exists.\n`);
      }
      return EXIT.OK;
    } finally {
      op.done();
    }
  });
}

type Run = (code: Promise<number>) => Promise<void>;

/** Adds `import` under `infra`. */
export function addImportCommand(infra: Command, run: Run): void {
  withTargetOptions(
    infra
      .command("import")
      .description("adopt an existing resource into state: its provider reads it by PROVIDER_ID, and it is recorded as the configuration's resource NAME")
      .argument("<name>", "the resource's name in the configuration (as named in --env's environment)")
      .argument("<provider-id>", "the provider's id of the existing resource (e.g. role:app for a postgres.role, a path for a local.file)"),
  ).action((name: string, providerId: string, opts: TargetOptions) => run(importResource(name, providerId, opts)));
}
