// How much work a configuration file may cost the daemon: its size, and how
// long reading it and then parsing and checking it may each take. Set once by
// wfctld at start (--max-config-bytes, --config-timeout); the defaults serve
// `--no-daemon` and `deploy verify`, which read configurations in the client.

export interface ConfigLimits {
  /**
   * Largest configuration file read, in bytes; also the most its YAML aliases
   * may expand it to. A file named by a request is read whole, so without a
   * bound a 200 MB log named as a config held the daemon for minutes.
   */
  maxBytes: number;
  /**
   * How long reading a file may take, and then parsing and checking it (in a
   * worker thread, which is stopped past it). 0 means no limit.
   */
  timeoutMs: number;
  /**
   * Parse in a worker thread (offthread.ts), within timeoutMs. wfctld does:
   * its event loop serves every client. A command running the engine itself
   * (`--no-daemon`, `deploy verify`) parses inline, sparing the thread's
   * start-up (about half a second): it blocks no one but itself.
   */
  inWorker: boolean;
}

export const DEFAULT_CONFIG_LIMITS: Readonly<ConfigLimits> = { maxBytes: 10 * 1024 * 1024, timeoutMs: 60_000, inWorker: false };

const current: ConfigLimits = { ...DEFAULT_CONFIG_LIMITS };

/** The limits in force. */
export function configLimits(): Readonly<ConfigLimits> {
  return current;
}

/** Sets the limits (wfctld's flags, at start). */
export function setConfigLimits(limits: Partial<ConfigLimits>): void {
  Object.assign(current, limits);
}
