// The daemon's last resort: an exception or promise rejection that nothing
// else handled is logged with its stack and counted, and the daemon keeps
// serving. Node's default (print and exit) would end every operation of every
// stack on the host, leave their locks held, and, for a daemon started in the
// background, say why only on a stderr nobody reads. Each one is a bug: the
// count shows in `wfctl daemon status` so that it is noticed.
import type { Logger } from "pino";

/** How many unhandled errors there were, and the last one's message. */
export interface UncaughtErrors {
  count: number;
  last: string;
}

/** The unhandled errors of this process, counted once install() is called. */
export class LastResort implements UncaughtErrors {
  count = 0;
  last = "";

  /** Handles `uncaughtException` and `unhandledRejection` for the rest of the process's life. */
  install(logger: Logger): void {
    process.on("uncaughtException", (err, origin) => this.record(logger, err, origin));
    process.on("unhandledRejection", (reason) => this.record(logger, reason, "unhandledRejection"));
  }

  private record(logger: Logger, reason: unknown, origin: string): void {
    this.count++;
    const err = reason instanceof Error ? reason : new Error(`non-Error value thrown: ${describe(reason)}`);
    this.last = `${origin}: ${err.message}`.slice(0, 1000);
    try {
      // pino's err serializer writes the type, message, stack and own fields (a code) of an Error.
      logger.fatal({ err, origin, uncaught_errors: this.count }, "unhandled error: wfctld keeps serving (this is a bug; please report it)");
    } catch {
      // The log itself failing must not turn the last resort into a crash.
    }
  }
}

function describe(value: unknown): string {
  try {
    return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
