// The daemon's own log: JSON lines in a file users can find (`wfctl daemon
// status` prints its path), or on stderr when running in the foreground.
import pino from "pino";

export type DaemonLogger = pino.Logger;

/** Logs to `file` (appending), or to stderr when `file` is undefined. */
export function createDaemonLogger(file: string | undefined, level = process.env["WFCTL_LOG_LEVEL"] ?? "info"): DaemonLogger {
  const destination = file ? pino.destination({ dest: file, append: true, mkdir: true, sync: true, mode: 0o600 }) : pino.destination({ fd: 2, sync: true });
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
