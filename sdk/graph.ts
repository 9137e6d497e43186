/**
 * Graph algorithms over task ids: deterministic topological order and cycle detection.
 * Pure and O(V + E log V), fine for 10,000-task DAGs.
 */

/** A min-heap of strings, for a topological order that breaks ties by task id. */
class StringHeap {
  private readonly items: string[] = [];
  get size(): number {
    return this.items.length;
  }
  push(value: string): void {
    const a = this.items;
    a.push(value);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): string | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

export type TopoResult = { ok: true; order: string[] } | { ok: false; cycle: string[] };

/**
 * Kahn's algorithm; ties broken by task id so the order is stable across compiles. On a cycle,
 * returns one cycle as a path that starts and ends at the same task.
 */
export function topologicalOrder(ids: readonly string[], upstream: ReadonlyMap<string, readonly string[]>): TopoResult {
  const indegree = new Map<string, number>();
  const downstream = new Map<string, string[]>();
  for (const id of ids) {
    indegree.set(id, 0);
    downstream.set(id, []);
  }
  for (const id of ids) {
    for (const up of upstream.get(id) ?? []) {
      indegree.set(id, (indegree.get(id) ?? 0) + 1);
      downstream.get(up)?.push(id);
    }
  }
  const heap = new StringHeap();
  for (const [id, d] of indegree) if (d === 0) heap.push(id);
  const order: string[] = [];
  while (heap.size > 0) {
    const id = heap.pop()!;
    order.push(id);
    for (const down of downstream.get(id) ?? []) {
      const d = indegree.get(down)! - 1;
      indegree.set(down, d);
      if (d === 0) heap.push(down);
    }
  }
  if (order.length === ids.length) return { ok: true, order };
  const remaining = new Set(ids.filter((id) => indegree.get(id)! > 0));
  return { ok: false, cycle: findCycle(remaining, upstream) };
}

/** Walks upstream edges inside the unresolved set until a task repeats; that loop is a cycle. */
function findCycle(remaining: ReadonlySet<string>, upstream: ReadonlyMap<string, readonly string[]>): string[] {
  const start = [...remaining].sort()[0]!;
  const seenAt = new Map<string, number>();
  const path: string[] = [];
  let current = start;
  while (!seenAt.has(current)) {
    seenAt.set(current, path.length);
    path.push(current);
    const next = (upstream.get(current) ?? []).filter((u) => remaining.has(u)).sort()[0];
    if (next === undefined) break;
    current = next;
  }
  // path follows upstream edges; reverse it so the cycle reads in execution order (a -> b -> a).
  const loop = path.slice(seenAt.get(current) ?? 0).reverse();
  // Start the printed cycle at its smallest id so the message is stable.
  const first = loop.indexOf([...loop].sort()[0]!);
  const rotated = [...loop.slice(first), ...loop.slice(0, first)];
  return [...rotated, rotated[0]!];
}
