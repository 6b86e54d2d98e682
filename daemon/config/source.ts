// Where things are in a configuration file, so that every error can name the
// file, the line, the module and the field; and how its problems are told.
import { type Document, LineCounter, isMap, isNode, isScalar, parseDocument } from "yaml";
import type { ErrorDetail } from "../../proto/errors.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";
import { checkAliases } from "./aliases.js";
import { configLimits } from "./limits.js";
import { LocatedSource, type PositionTree, type YamlPath, positionsOf } from "./positions.js";

export { LocatedSource, type YamlPath } from "./positions.js";

/**
 * Problems kept in an error; past them only a count. A file of garbage can
 * make hundreds of thousands (a 1 MB JSON-lines file: 250,000), and
 * each kept one costs a line's lookup and its place in memory.
 */
export const MAX_PROBLEMS_KEPT = 1000;

/** Problems listed in an error's message; the rest are counted ("… and 480 more"). */
export const MAX_PROBLEMS_SHOWN = 20;

/** A parsed YAML file that can locate any path in it. */
export class SourceFile extends LocatedSource {
  private parsed: { value: unknown } | undefined;

  private constructor(
    file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly maxExpandedBytes: number,
  ) {
    super(file);
  }

  /**
   * Parses YAML; a syntax error is CONFIG_INVALID with file:line:column.
   * `maxExpandedBytes` bounds what its aliases may expand it to (default: the
   * configuration size limit).
   */
  static parse(file: string, text: string, maxExpandedBytes = configLimits().maxBytes): SourceFile {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const modules = new ModuleLines(text);
      const details: ErrorDetail[] = doc.errors.slice(0, MAX_PROBLEMS_KEPT).map((e) => {
        const pos = lines.linePos(e.pos[0]);
        const module = modules.at(pos.line);
        return {
          file,
          line: pos.line,
          column: pos.col,
          ...(module !== undefined ? { module } : {}),
          message: `YAML syntax error: ${e.message.split("\n")[0]}`,
        };
      });
      throw configInvalid(file, details, doc.errors.length - details.length);
    }
    return new SourceFile(file, doc, lines, maxExpandedBytes);
  }

  /**
   * The plain JavaScript value of the document, computed once. Its aliases
   * are checked first (aliases.ts): an alias problem is CONFIG_INVALID at the
   * alias's line, never a bare error from deep inside the YAML library.
   */
  value(): unknown {
    if (this.parsed) return this.parsed.value;
    const problem = checkAliases(this.doc, this.maxExpandedBytes);
    if (problem) {
      const pos = problem.node.range ? this.lines.linePos(problem.node.range[0]) : undefined;
      throw configInvalid(this.file, [{ file: this.file, ...(pos ? { line: pos.line, column: pos.col } : {}), message: problem.message }]);
    }
    let value: unknown;
    try {
      value = this.doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // checkAliases refuses all that yaml would; this is a last guard, never an INTERNAL error.
      throw configInvalid(this.file, [{ file: this.file, message: `YAML aliases: ${(err as Error).message}` }]);
    }
    this.parsed = { value };
    return value;
  }

  /** Line and column of the deepest node along `path` that exists. */
  locate(path: YamlPath): { line: number; column: number } | undefined {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = this.lines.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  }

  /** Line and column of the key that ends `path` (a problem with the key itself, not its value). */
  locateKey(path: YamlPath): { line: number; column: number } | undefined {
    const parent = path.length > 0 ? this.doc.getIn(path.slice(0, -1), true) : undefined;
    if (isMap(parent)) {
      const key = parent.items.find((pair) => isScalar(pair.key) && String(pair.key.value) === String(path.at(-1)))?.key;
      if (isNode(key) && key.range) {
        const pos = this.lines.linePos(key.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return this.locate(path);
  }

  /** A detail for a problem with the key that ends `path` (an invalid name), located at the key. */
  keyDetail(path: YamlPath, message: string, module?: string, field?: string): ErrorDetail {
    return { ...this.detail(path, message, module, field), ...(this.locateKey(path) ?? {}) };
  }

  /** Where every node is, for locating problems once the document is gone (positions.ts). */
  positions(): PositionTree | undefined {
    return positionsOf(this.doc, this.lines);
  }
}

/**
 * The module each line of a text belongs to, found from the text alone (for
 * syntax errors, when there is no parsed document): the `modules:` list item
 * that contains the line, named by its `name:` key. Built in one pass, so
 * that thousands of errors do not each split the whole text again (that
 * made a 1 MB file take minutes).
 */
class ModuleLines {
  private names: (string | undefined)[] | undefined;

  constructor(private readonly text: string) {}

  /** The module of 1-based `line`. */
  at(line: number): string | undefined {
    this.names ??= moduleNames(this.text.split(/\r?\n/));
    return this.names[Math.min(line, this.names.length) - 1];
  }
}

/** For each row, the name of the `modules:` item it is in. */
function moduleNames(rows: readonly string[]): (string | undefined)[] {
  const names: (string | undefined)[] = new Array<string | undefined>(rows.length).fill(undefined);
  const listAt = rows.findIndex((r) => /^modules:\s*(#.*)?$/.test(r));
  if (listAt < 0) return names;
  const firstItem = rows.findIndex((r, i) => i > listAt && /^\s*-\s/.test(r));
  if (firstItem < 0) return names;
  const indent = (/^\s*/.exec(rows[firstItem] ?? "")?.[0] ?? "").length;
  const isItem = (r: string) => r.length > indent && r[indent] === "-" && /^\s*$/.test(r.slice(0, indent));
  let start = -1;
  const flush = (end: number) => {
    if (start < 0) return;
    const name = itemName(rows, start, end, indent);
    for (let i = start; i < end; i++) names[i] = name;
  };
  for (let i = listAt + 1; i < rows.length; i++) {
    if (!isItem(rows[i] ?? "")) continue;
    flush(i);
    start = i;
  }
  flush(rows.length);
  return names;
}

/** The `name:` of the list item on rows [start, end). */
function itemName(rows: readonly string[], start: number, end: number, indent: number): string | undefined {
  for (let i = start; i < end; i++) {
    const row = rows[i] ?? "";
    const key = i === start ? row.slice(indent + 1) : row;
    const match = /^(\s*)name:\s*["']?([^"'#\s]+)/.exec(key);
    if (match && (i === start || (match[1] ?? "").length === indent + 2)) return match[2];
  }
  return undefined;
}

/** The module (of the `modules:` list) that 1-based `line` of `text` belongs to. */
export function moduleAtLine(text: string, line: number): string | undefined {
  return new ModuleLines(text).at(line);
}

/** Longest message a detail shows in text; a key or value quoted in it can be as long as the file. */
const MAX_MESSAGE_CHARS = 1000;

/** One line per problem: `file:line:col: module "m": field "f": message`. */
export function formatDetail(d: ErrorDetail): string {
  const where = [d.file, d.line, d.column].filter((x) => x !== undefined).join(":");
  const parts = [where];
  if (d.module !== undefined) parts.push(`module "${d.module}"`);
  if (d.field !== undefined) parts.push(`field "${d.field}"`);
  parts.push(d.message.length > MAX_MESSAGE_CHARS ? `${d.message.slice(0, MAX_MESSAGE_CHARS)}…` : d.message);
  return parts.filter((p) => p !== "").join(": ");
}

/** The problems of `file` as text: the first MAX_PROBLEMS_SHOWN, then how many more (`omitted` counts any not in `details`). */
export function formatDetails(file: string, details: readonly ErrorDetail[], omitted = 0): string {
  const total = details.length + omitted;
  if (total === 1 && details[0]) return `invalid configuration: ${formatDetail(details[0])}`;
  const shown = details.slice(0, MAX_PROBLEMS_SHOWN).map((d) => `  ${formatDetail(d)}`);
  const more = total - shown.length;
  return `invalid configuration ${file}: ${total} problems:\n${shown.join("\n")}${more > 0 ? `\n  … and ${more} more` : ""}`;
}

/** CONFIG_INVALID for `details` (the first MAX_PROBLEMS_KEPT of them kept, the rest counted). */
export function configInvalid(file: string, details: readonly ErrorDetail[], omitted = 0): WfctlError {
  const kept = details.slice(0, MAX_PROBLEMS_KEPT);
  const more = omitted + details.length - kept.length;
  return new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(file, kept, more), { details: kept, omitted: more });
}

/** Throws CONFIG_INVALID listing every problem, if there are any. */
export function throwIfProblems(file: string, details: readonly ErrorDetail[]): void {
  if (details.length > 0) throw configInvalid(file, details);
}

/** The message for a map key its schema refused (an environment name, say): the key, then why. */
export function invalidKeyMessage(issue: { message: string; issues?: readonly { message: string }[] }, path: YamlPath): string {
  return `${JSON.stringify(String(path.at(-1)))} ${issue.issues?.[0]?.message ?? issue.message}`;
}
