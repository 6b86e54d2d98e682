// A plugin's stderr: kept as a bounded ring of recent lines (shown to
// operators and quoted in errors) and forwarded to the daemon's log. Lines
// are bounded too: a plugin that wrote 200 MB without a newline once became
// one 200 MB line (daemon RSS 871 MB) and broke `plugins logs`.
import type { Readable } from "node:stream";
import type { Logger } from "pino";

/** Lines kept per plugin instance. */
export const RECENT_LINES = 200;

/** Longest line kept, in bytes; the rest of a longer line is dropped as it arrives, and counted. */
export const MAX_LINE_BYTES = 16 * 1024;

/** How a cut line ends. */
export function truncationMarker(dropped: number): string {
  return ` … [line truncated: ${dropped} more bytes]`;
}

/**
 * Splits a stream into lines, holding at most MAX_LINE_BYTES of any line:
 * what follows is dropped unread into memory, and the line, when it ends,
 * says how much was dropped.
 */
export function followLines(stream: Readable, onLine: (line: string) => void, maxBytes = MAX_LINE_BYTES): void {
  let pending: Buffer[] = [];
  let held = 0;
  let dropped = 0;
  const emit = () => {
    const text = Buffer.concat(pending).toString("utf8").replace(/\r$/, "");
    pending = [];
    held = 0;
    onLine(dropped > 0 ? `${text}${truncationMarker(dropped)}` : text);
    dropped = 0;
  };
  const take = (part: Buffer) => {
    const room = maxBytes - held;
    if (part.length > room) {
      // Copies: a slice would keep the whole chunk it came from alive.
      if (room > 0) pending.push(Buffer.from(part.subarray(0, room)));
      held = maxBytes;
      dropped += part.length - Math.max(0, room);
    } else {
      pending.push(Buffer.from(part));
      held += part.length;
    }
  };
  stream.on("data", (chunk: Buffer | string) => {
    let rest = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    for (let newline = rest.indexOf(0x0a); newline >= 0; newline = rest.indexOf(0x0a)) {
      take(rest.subarray(0, newline));
      emit();
      rest = rest.subarray(newline + 1);
    }
    if (rest.length > 0) take(rest);
  });
  stream.on("end", () => {
    if (held > 0 || dropped > 0) emit();
  });
}

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
    followLines(stream, (line) => this.add(line, source));
    stream.on("error", (err) => this.log.warn({ source, err: err.message }, "reading the plugin's output failed"));
  }

  /** Keeps a line that did not come through follow() (what followed the handshake line), cut to MAX_LINE_BYTES. */
  push(text: string, source: "stderr" | "stdout"): void {
    this.add(Buffer.byteLength(text) > MAX_LINE_BYTES ? cut(text) : text, source);
  }

  /** Keeps a line already bounded. */
  private add(line: string, source: "stderr" | "stdout"): void {
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

/** `text` cut to MAX_LINE_BYTES, with the marker. */
function cut(text: string): string {
  const bytes = Buffer.from(text);
  return `${bytes.subarray(0, MAX_LINE_BYTES).toString("utf8")}${truncationMarker(bytes.length - MAX_LINE_BYTES)}`;
}

/** Characters of each line an error message quotes: twenty lines of a plugin's log make a message, not a dump. */
const QUOTED_CHARS = 500;

/** Indents the last lines of a plugin log for quoting in an error message. */
export function quoteLines(lines: readonly string[]): string {
  if (lines.length === 0) return "  (no output)";
  return lines.map((l) => `  | ${l.length > QUOTED_CHARS ? `${l.slice(0, QUOTED_CHARS)} … [${l.length - QUOTED_CHARS} more characters]` : l}`).join("\n");
}
