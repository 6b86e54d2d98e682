// The audit log: one JSON line per change made to state outside a
// resource's own apply (a ghost pruned by `apply --refresh` or `refresh`, a
// lock released by hand), appended to a file only its owner can read, beside
// the daemon's socket. Each line names who asked twice: `caller`, what the
// client claims, and `peer`, what the daemon knows of the process at the
// other end of the socket (daemon/server/peer.ts).
import { closeSync, mkdirSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import { checkSocketDir, openPrivateFile } from "../proto/private-files.js";
import type { AuditEntry, AuditSink } from "./engine/engine.js";

/** The line written for `entry`. */
export function auditLine(entry: AuditEntry): string {
  const { operationId, peer, ...rest } = entry;
  return `${JSON.stringify({ ...rest, ...(peer ? { peer } : {}), operation_id: operationId })}\n`;
}

export function fileAuditSink(path: string, logger: Logger): AuditSink {
  return (entry: AuditEntry) => {
    let fd: number | undefined;
    try {
      // Made private if missing; refused (like a linked or foreign file) if another user can reach it: the
      // in-process engine (--no-daemon) writes here without a daemon having checked it.
      if (!checkSocketDir(dirname(path))) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      fd = openPrivateFile(path, "append", { what: "audit log" });
      writeSync(fd, auditLine(entry));
    } catch (err) {
      // The prune already happened and is in the daemon log; say loudly that the audit copy is missing.
      logger.error({ audit: entry, err: (err as Error).message, path }, "could not write the audit log");
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };
}
