// The daemon's own log: JSON lines in a file users can find (`wfctl daemon
// status` prints its path), or on stderr when running in the foreground.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import pino from "pino";
import { openPrivateFile } from "../proto/private-files.js";

export type DaemonLogger = pino.Logger;

/**
 * The log file, opened for appending (0600 when made), never through a
 * symbolic link and only if it is a regular file of this user's own (or a
 * device such as /dev/null): refused by name otherwise (SOCKET_UNTRUSTED).
 */
function openLogFile(file: string): number {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return openPrivateFile(file, "append", { what: "log", devices: true });
}

/** Logs to `file` (appending), or to stderr when `file` is undefined. */
export function createDaemonLogger(file: string | undefined, level = process.env["WFCTL_LOG_LEVEL"] ?? "info"): DaemonLogger {
  const destination = pino.destination({ fd: file ? openLogFile(file) : 2, sync: true });
  // A log that cannot be written (disk full, file removed under a read-only
  // mount) loses lines; it must not end the daemon ('error' with no listener would).
  let reported = false;
  destination.on("error", (err: Error) => {
    if (reported) return;
    reported = true;
    try {
      process.stderr.write(`wfctld: cannot write the log ${file ?? "(stderr)"}: ${err.message}; log lines are being lost\n`);
    } catch {
      // stderr is gone too: nothing is left to tell.
    }
  });
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that writes nothing (the in-process engine of a quiet client). */
export function silentLogger(): DaemonLogger {
  return pino({ level: "silent" });
}
