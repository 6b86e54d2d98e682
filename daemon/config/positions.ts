// Where every node of a configuration file starts, kept apart from the YAML
// document: configurations are parsed in a worker thread, and a document
// cannot leave it, but errors found later (a provider's schema, an output
// not in state) must still name the line. The tree mirrors the document:
// a mapping's entries by key, a sequence's items by index.
import { type Document, type LineCounter, isMap, isNode, isScalar, isSeq } from "yaml";
import type { ErrorDetail } from "../../proto/errors.js";

/** A line and column packed in one number (columns past 2^24 - 1 clamped: a file is at most a few MiB). */
type Packed = number;
const COLUMN_BITS = 2 ** 24;

/** A node's position, and its children's when it is a collection. */
export type PositionTree = Packed | { at: Packed; items: PositionTree[] } | { at: Packed; keys: Map<string, PositionTree> };

export type YamlPath = readonly (string | number)[];

/** Anything that can say where a path of the configuration is, and make a detail of a problem there. */
export abstract class LocatedSource {
  constructor(readonly file: string) {}

  /** Line and column of the deepest node along `path` that exists. */
  abstract locate(path: YamlPath): { line: number; column: number } | undefined;

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

/** The position tree of a parsed document (undefined when it is empty). */
export function positionsOf(doc: Document, lines: LineCounter): PositionTree | undefined {
  const pack = (offset: number): Packed => {
    const { line, col } = lines.linePos(offset);
    return line * COLUMN_BITS + Math.min(col, COLUMN_BITS - 1);
  };
  const build = (node: unknown): PositionTree | undefined => {
    if (!isNode(node) || !node.range) return undefined;
    const at = pack(node.range[0]);
    if (isSeq(node)) {
      const items: PositionTree[] = [];
      for (const item of node.items) items.push(build(item) ?? at);
      return { at, items };
    }
    if (isMap(node)) {
      const keys = new Map<string, PositionTree>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const value = build(pair.value);
        // The first of duplicate keys, as the document's own lookup finds it.
        if (value !== undefined && !keys.has(key)) keys.set(key, value);
      }
      return { at, keys };
    }
    return at;
  };
  return build(doc.contents);
}

/** A configuration's positions without its document: what a configuration parsed in a worker keeps. */
export class IndexedSource extends LocatedSource {
  constructor(
    file: string,
    private readonly tree: PositionTree | undefined,
  ) {
    super(file);
  }

  locate(path: YamlPath): { line: number; column: number } | undefined {
    let node = this.tree;
    if (node === undefined) return undefined;
    for (const step of path) {
      if (typeof node === "number") break;
      const next: PositionTree | undefined = "items" in node ? node.items[Number(step)] : node.keys.get(String(step));
      if (next === undefined) break;
      node = next;
    }
    const at = typeof node === "number" ? node : node.at;
    return { line: Math.floor(at / COLUMN_BITS), column: at % COLUMN_BITS };
  }
}
