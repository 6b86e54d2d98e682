// The daemon's own log: JSON lines in a file users can find (`wfctl daemon
// status` prints its path), or on stderr when running in the foreground.
import pino from "pino";

export type DaemonLogger = pino.Logger;

/** Logs to `file` (appending), or to stderr when `file` is undefined. */
export function createDaemonLogger(file: string | undefined, level = process.env["WFCTL_LOG_LEVEL"] ?? "info"): DaemonLogger {
  const destination = file ? pino.destination({ dest: file, append: true, mkdir: true, sync: true, mode: 0o600 }) : pino.destination({ fd: 2, sync: true });
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
