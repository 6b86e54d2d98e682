// A plugin's stderr: kept as a bounded ring of recent lines (shown to
// operators and quoted in errors) and forwarded to the daemon's log.
import type { Readable } from "node:stream";
import { createInterface } from "node:readline";
import type { Logger } from "pino";

/** Lines kept per plugin instance. */
export const RECENT_LINES = 200;

export class PluginLog {
  private readonly lines: string[] = [];

  constructor(
    private readonly log: Logger,
    private readonly capacity: number = RECENT_LINES,
  ) {}

  /** Follows a stream line by line until it ends. */
  follow(stream: Readable, source: "stderr" | "stdout"): void {
    const reader = createInterface({ input: stream, crlfDelay: Infinity });
    reader.on("line", (line) => this.push(line, source));
  }

  push(line: string, source: "stderr" | "stdout"): void {
    if (line.trim() === "") return;
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
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
  }

  /** The last `n` lines, oldest first. */
  recent(n: number = this.capacity): string[] {
    return this.lines.slice(-n);
  }
}

/** Indents the last lines of a plugin log for quoting in an error message. */
export function quoteLines(lines: readonly string[]): string {
  return lines.length === 0 ? "  (no output)" : lines.map((l) => `  | ${l}`).join("\n");
}
