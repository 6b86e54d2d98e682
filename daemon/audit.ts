// The audit log: one JSON line per change made to state outside a
// resource's own apply (a ghost pruned by `apply --refresh` or `refresh`),
// appended to a file only its owner can read, beside the daemon's socket.
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import type { AuditEntry, AuditSink } from "./engine/engine.js";

export function fileAuditSink(path: string, logger: Logger): AuditSink {
  return (entry: AuditEntry) => {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const { operationId, ...rest } = entry;
      appendFileSync(path, `${JSON.stringify({ ...rest, operation_id: operationId })}\n`, { mode: 0o600 });
    } catch (err) {
      // The prune already happened and is in the daemon log; say loudly that the audit copy is missing.
      logger.error({ audit: entry, err: (err as Error).message, path }, "could not write the audit log");
    }
  };
}
