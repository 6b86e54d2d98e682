// Where things are in a configuration file, so that every error can name the
// file, the line, the module and the field.
import { type Document, LineCounter, isMap, isNode, isScalar, parseDocument } from "yaml";
import type { ErrorDetail } from "../../proto/errors.js";
import { ErrorCode, WfctlError } from "../../proto/errors.js";

export type YamlPath = readonly (string | number)[];

/** A parsed YAML file that can locate any path in it. */
export class SourceFile {
  private constructor(
    readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Parses YAML; a syntax error is CONFIG_INVALID with file:line:column. */
  static parse(file: string, text: string): SourceFile {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const details: ErrorDetail[] = doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        const module = moduleAtLine(text, pos.line);
        return {
          file,
          line: pos.line,
          column: pos.col,
          ...(module !== undefined ? { module } : {}),
          message: `YAML syntax error: ${e.message.split("\n")[0]}`,
        };
      });
      throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(file, details), { details });
    }
    return new SourceFile(file, doc, lines);
  }

  /** The plain JavaScript value of the document. */
  value(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
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

  /** A detail for a problem at `path`, about `module` (and `field`) if given. */
  detail(path: YamlPath, message: string, module?: string, field?: string): ErrorDetail {
    const at = this.locate(path);
    return {
      file: this.file,
      ...(at ?? {}),
      ...(module !== undefined ? { module } : {}),
      ...(field !== undefined ? { field } : {}),
      message,
    };
  }
}

/**
 * The module a line of text belongs to, found from the text alone (for
 * syntax errors, when there is no parsed document): the `modules:` list item
 * that contains the line, named by its `name:` key.
 */
export function moduleAtLine(text: string, line: number): string | undefined {
  const rows = text.split(/\r?\n/);
  const listAt = rows.findIndex((r) => /^modules:\s*(#.*)?$/.test(r));
  if (listAt < 0 || line - 1 <= listAt) return undefined;
  const firstItem = rows.slice(listAt + 1).find((r) => /^\s*-\s/.test(r));
  if (firstItem === undefined) return undefined;
  const indent = (firstItem.match(/^\s*/)?.[0] ?? "").length;
  const isItem = (r: string) => r.length > indent && r[indent] === "-" && /^\s*$/.test(r.slice(0, indent));
  let start = Math.min(line - 1, rows.length - 1);
  while (start > listAt && !isItem(rows[start] ?? "")) start--;
  if (start <= listAt) return undefined;
  for (let i = start; i < rows.length && (i === start || !isItem(rows[i] ?? "")); i++) {
    const row = rows[i] ?? "";
    const key = i === start ? row.slice(indent + 1) : row;
    const match = /^(\s*)name:\s*["']?([^"'#\s]+)/.exec(key);
    if (match && (i === start || (match[1] ?? "").length === indent + 2)) return match[2];
  }
  return undefined;
}

/** One line per problem: `file:line:col: module "m": field "f": message`. */
export function formatDetail(d: ErrorDetail): string {
  const where = [d.file, d.line, d.column].filter((x) => x !== undefined).join(":");
  const parts = [where];
  if (d.module !== undefined) parts.push(`module "${d.module}"`);
  if (d.field !== undefined) parts.push(`field "${d.field}"`);
  parts.push(d.message);
  return parts.filter((p) => p !== "").join(": ");
}

export function formatDetails(file: string, details: readonly ErrorDetail[]): string {
  if (details.length === 1 && details[0]) return `invalid configuration: ${formatDetail(details[0])}`;
  return `invalid configuration ${file}: ${details.length} problems:\n${details.map((d) => `  ${formatDetail(d)}`).join("\n")}`;
}

/** Throws CONFIG_INVALID listing every problem, if there are any. */
export function throwIfProblems(file: string, details: readonly ErrorDetail[]): void {
  if (details.length > 0) throw new WfctlError(ErrorCode.CONFIG_INVALID, formatDetails(file, details), { details });
}

/** The message for a map key its schema refused (an environment name, say): the key, then why. */
export function invalidKeyMessage(issue: { message: string; issues?: readonly { message: string }[] }, path: YamlPath): string {
  return `${JSON.stringify(String(path.at(-1)))} ${issue.issues?.[0]?.message ?? issue.message}`;
}
