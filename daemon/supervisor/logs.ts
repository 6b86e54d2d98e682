// A plugin's stderr: kept as a bounded ring of recent lines (shown to
// operators and quoted in errors) and forwarded to the daemon's log.
import type { Readable } from "node:stream";
import { createInterface } from "node:readline";
import type { Logger } from "pino";

/** Lines kept per plugin instance. */
export const RECENT_LINES = 200;

/** One line a plugin wrote, as the daemon read it. */
export interface LogEntry {
  time: Date;
  source: "stderr" | "stdout";
  line: string;
}

export class PluginLog {
  private readonly entries: LogEntry[] = [];
  private readonly listeners = new Set<(entry: LogEntry) => void>();

  constructor(
    private log: Logger,
    private readonly capacity: number = RECENT_LINES,
  ) {}

  /** Tags every later line in the daemon's log with the plugin's pid. */
  bindPid(pid: number | undefined): void {
    if (pid !== undefined) this.log = this.log.child({ plugin_pid: pid });
  }

  /** Follows a stream line by line until it ends (or fails: a broken pipe ends the log, never the daemon). */
  follow(stream: Readable, source: "stderr" | "stdout"): void {
    const reader = createInterface({ input: stream, crlfDelay: Infinity });
    reader.on("line", (line) => this.push(line, source));
    // readline re-emits its input's errors: without a listener they would be thrown.
    reader.on("error", (err) => this.log.warn({ source, err: err.message }, "reading the plugin's output failed"));
  }

  push(line: string, source: "stderr" | "stdout"): void {
    if (line.trim() === "") return;
    const entry: LogEntry = { time: new Date(), source, line };
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    // Plugins log JSON lines; keep them structured in the daemon log.
    let parsed: unknown;
    if (line.startsWith("{")) {
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
    }
    if (parsed !== undefined && typeof parsed === "object" && parsed !== null) this.log.info({ source, plugin_log: parsed }, "plugin log");
    else this.log.info({ source, line }, "plugin output");
    for (const listener of this.listeners) listener(entry);
  }

  /** The last `n` lines, oldest first. */
  recent(n: number = this.capacity): string[] {
    return this.entries.slice(-n).map((e) => e.line);
  }

  /** The last `n` entries, oldest first. */
  recentEntries(n: number = this.capacity): LogEntry[] {
    return this.entries.slice(-n);
  }

  /** Calls `listener` with every new line; returns the way to stop. */
  subscribe(listener: (entry: LogEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Indents the last lines of a plugin log for quoting in an error message. */
export function quoteLines(lines: readonly string[]): string {
  return lines.length === 0 ? "  (no output)" : lines.map((l) => `  | ${l}`).join("\n");
}
