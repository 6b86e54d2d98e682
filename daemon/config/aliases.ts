// YAML aliases checked before a document becomes values: each names an anchor
// before it and outside itself, and together they expand the document to at
// most a size. The yaml package bounds only how many aliases there are (99
// aliases of one 5 MB string passed it, and took 76 s and 2.1 GB downstream),
// and reports what it refuses as a bare ReferenceError with no line.
import { type Document, type Node, isAlias, isMap, isPair, isScalar, isSeq } from "yaml";

/** yaml's own bound (toJS maxAliasCount), checked here first so that its refusal names a line. */
export const MAX_ALIAS_COUNT = 100;

/** An alias the document may not have, and why. */
export interface AliasProblem {
  /** The alias node (its range locates it). */
  node: Node;
  message: string;
}

/** Per anchored node: uses so far (the node itself, then each alias: yaml starts at 1 too), and yaml's alias count of it (0 until needed). */
interface AnchorUse {
  count: number;
  aliasCount: number;
}

/**
 * The first alias problem of `doc`, in document order, or undefined. Sizes
 * count characters of scalars (and one per node), each alias counted as
 * everything it stands for; linear in the document, however far aliases expand.
 */
export function checkAliases(doc: Document, maxExpandedBytes: number): AliasProblem | undefined {
  const sizes = new Map<Node, number>();
  const inProgress = new Set<Node>();
  const anchors = new Map<string, Node>();
  const uses = new Map<Node, AnchorUse>();
  let total = 0;

  // yaml's getAliasCount(), with this walk's counts: how far one more alias to `node` multiplies.
  const aliasCountOf = (node: unknown): number => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      const use = target && uses.get(target);
      return use ? use.count * use.aliasCount : 0;
    }
    if (isSeq(node) || isMap(node)) {
      let most = 0;
      for (const item of node.items) most = Math.max(most, aliasCountOf(item));
      return most;
    }
    if (isPair(node)) return Math.max(aliasCountOf(node.key), aliasCountOf(node.value));
    return 1;
  };

  const visit = (node: unknown): number => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) throw problem(node, `alias *${node.source} names no anchor before it (an anchor &${node.source} must come first)`);
      if (inProgress.has(target)) throw problem(node, `alias *${node.source} is inside the node it names: it would contain itself`);
      const use = uses.get(target) ?? { count: 1, aliasCount: 0 };
      uses.set(target, use);
      use.count += 1;
      if (use.aliasCount === 0) use.aliasCount = aliasCountOf(target);
      if (use.count * use.aliasCount > MAX_ALIAS_COUNT) {
        throw problem(node, `alias *${node.source} is one alias too many: a node and its aliases may stand for it at most ${MAX_ALIAS_COUNT} times (a resource exhaustion attack otherwise)`);
      }
      const size = sizes.get(target) ?? 0;
      total += size;
      if (total > maxExpandedBytes) {
        throw problem(node, `alias *${node.source} expands the document past ${maxExpandedBytes} bytes (the configuration size limit, wfctld --max-config-bytes)`);
      }
      return size;
    }
    if (!isScalar(node) && !isSeq(node) && !isMap(node) && !isPair(node)) return 0;
    const anchor = isPair(node) ? undefined : node.anchor;
    if (anchor !== undefined && anchor !== "") {
      anchors.set(anchor, node as Node);
      uses.set(node as Node, { count: 1, aliasCount: 0 });
    }
    inProgress.add(node as Node);
    let size = 1;
    if (isScalar(node)) {
      const value: unknown = node.value;
      size += typeof value === "string" ? value.length : String(value).length;
      total += size;
    } else if (isPair(node)) {
      size += visit(node.key) + visit(node.value);
    } else {
      total += 1;
      for (const item of node.items) size += visit(item);
    }
    inProgress.delete(node as Node);
    sizes.set(node as Node, size);
    return size;
  };

  try {
    visit(doc.contents);
    return undefined;
  } catch (err) {
    if (err instanceof AliasRefusal) return { node: err.node, message: err.message };
    throw err;
  }
}

class AliasRefusal extends Error {
  constructor(
    readonly node: Node,
    message: string,
  ) {
    super(message);
  }
}

function problem(node: Node, message: string): AliasRefusal {
  return new AliasRefusal(node, message);
}
