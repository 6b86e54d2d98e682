// The dependency graph of resources: cycle detection that names the cycle,
// and the ordering the scheduler and destroy follow.

export interface GraphNode {
  name: string;
  dependsOn: readonly string[];
}

/** `start` and, transitively, every name `next` gives for a name reached (what they depend on, or what depends on them). */
export function reachable(start: Iterable<string>, next: (name: string) => readonly string[]): Set<string> {
  const reached = new Set<string>();
  const queue = [...start];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (reached.has(name)) continue;
    reached.add(name);
    queue.push(...next(name));
  }
  return reached;
}

/** A cycle as the list of names along it (first name repeated at the end), or undefined. */
export function findCycle(nodes: readonly GraphNode[]): string[] | undefined {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const mark = state.get(name);
    if (mark === "done") return undefined;
    if (mark === "visiting") return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, "visiting");
    stack.push(name);
    for (const dep of byName.get(name)?.dependsOn ?? []) {
      if (!byName.has(dep)) continue;
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(name, "done");
    return undefined;
  };
  for (const node of nodes) {
    const cycle = visit(node.name);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Names in an order where every node comes after what it depends on (stable: input order breaks ties). */
export function topologicalOrder(nodes: readonly GraphNode[]): string[] {
  const names = new Set(nodes.map((n) => n.name));
  const remaining = new Map(nodes.map((n) => [n.name, n.dependsOn.filter((d) => names.has(d) && d !== n.name).length]));
  const dependents = new Map<string, string[]>();
  for (const node of nodes) {
    for (const dep of node.dependsOn) {
      if (!names.has(dep) || dep === node.name) continue;
      const list = dependents.get(dep) ?? [];
      list.push(node.name);
      dependents.set(dep, list);
    }
  }
  const order: string[] = [];
  const ready = nodes.filter((n) => remaining.get(n.name) === 0).map((n) => n.name);
  while (ready.length > 0) {
    const name = ready.shift() as string;
    order.push(name);
    for (const next of dependents.get(name) ?? []) {
      const left = (remaining.get(next) ?? 0) - 1;
      remaining.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  if (order.length !== nodes.length) {
    const cycle = findCycle(nodes);
    throw new Error(`dependency cycle: ${(cycle ?? []).join(" → ")}`);
  }
  return order;
}
