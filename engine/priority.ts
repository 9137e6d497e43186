/**
 * Effective priority weights: Airflow's `priority_weight_total` by `weight_rule`.
 *
 * - `absolute`: the task's own weight.
 * - `downstream` (Airflow's default): own weight + the own weights of every task downstream of it,
 *   counted once each (Airflow sums over the SET of descendants, so a diamond's far corner counts
 *   once, not once per path).
 * - `upstream`: own weight + the own weights of every ancestor, counted once each.
 *
 * Summing over a set of reachable tasks is a transitive-closure problem: a plain DP over the graph
 * would count a diamond's shared descendant twice. Trees (every task with at most one parent for
 * `downstream`) take an O(V+E) DP; other graphs use reachability bitsets in blocks of
 * BLOCK_BITS target tasks, O(E·V/32) word operations with O(V·BLOCK_BITS/8) bytes of memory at a
 * time (10,000 tasks with 20,000 edges: a few million operations). Pure: the compiler calls it.
 */
import type { TaskSpec } from '../spec/dag-spec.js';

export type WeightRule = 'downstream' | 'upstream' | 'absolute';

/** What the computation needs of a task (a TaskSpec has it). */
export interface WeightedTask {
  task_id: string;
  upstream: readonly string[];
  downstream: readonly string[];
  /** The task's own (declared) weight. */
  priority_weight: number;
  weight_rule: WeightRule;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** Target tasks per reachability block: bounds memory at V × BLOCK_BITS / 8 bytes. */
const BLOCK_BITS = 2048;

/**
 * Effective weights, in the order of `tasks`. Clamped to Postgres's integer range, as Airflow's
 * `db_safe_priority` does. Edges naming unknown tasks are ignored (the compiler rejects them).
 */
export function effectivePriorityWeights(tasks: readonly WeightedTask[]): number[] {
  const n = tasks.length;
  const indexOf = new Map<string, number>();
  tasks.forEach((t, i) => indexOf.set(t.task_id, i));
  const children: number[][] = tasks.map(() => []);
  const parents: number[][] = tasks.map(() => []);
  // Edges from both lists, deduplicated: a spec carries both directions, a hand-made input may not.
  const seen = new Set<number>();
  const addEdge = (from: number | undefined, to: number | undefined): void => {
    if (from === undefined || to === undefined || from === to) return;
    const key = from * n + to;
    if (seen.has(key)) return;
    seen.add(key);
    children[from]!.push(to);
    parents[to]!.push(from);
  };
  tasks.forEach((t, i) => {
    for (const u of t.upstream) addEdge(indexOf.get(u), i);
    for (const d of t.downstream) addEdge(i, indexOf.get(d));
  });
  const own = tasks.map((t) => t.priority_weight);
  const down = tasks.some((t) => t.weight_rule === 'downstream') ? reachableWeightSums(children, parents, own) : null;
  const up = tasks.some((t) => t.weight_rule === 'upstream') ? reachableWeightSums(parents, children, own) : null;
  return tasks.map((t, i) => {
    const extra = t.weight_rule === 'downstream' ? down![i]! : t.weight_rule === 'upstream' ? up![i]! : 0;
    return clampInt32(own[i]! + extra);
  });
}

/**
 * Sets each task's `priority_weight` to its effective weight and keeps the declared one in
 * `declared_priority_weight` where they differ (absent: the same). Mutates `tasks`.
 */
export function applyPriorityWeights(tasks: TaskSpec[]): void {
  const weights = effectivePriorityWeights(tasks);
  tasks.forEach((t, i) => {
    const effective = weights[i]!;
    if (effective !== t.priority_weight) {
      t.declared_priority_weight = t.priority_weight;
      t.priority_weight = effective;
    }
  });
}

/**
 * For every node, the sum of `weights` over the set of nodes reachable from it along `next`
 * (excluding itself). `prev` is the reverse adjacency. The graph must be acyclic.
 */
export function reachableWeightSums(
  next: readonly number[][],
  prev: readonly number[][],
  weights: readonly number[],
): number[] {
  const n = next.length;
  // Sinks first: a node comes after every node it reaches.
  const order: number[] = [];
  const pending = next.map((x) => x.length);
  for (let v = 0; v < n; v++) if (pending[v] === 0) order.push(v);
  for (let k = 0; k < order.length; k++) {
    for (const p of prev[order[k]!]!) if (--pending[p]! === 0) order.push(p);
  }
  if (order.length !== n) throw new Error('reachableWeightSums: the graph has a cycle');

  const sums = new Array<number>(n).fill(0);
  if (prev.every((p) => p.length <= 1)) {
    // A forest seen along `next`: the reachable sets of a node's successors are disjoint.
    for (const v of order) {
      let s = 0;
      for (const c of next[v]!) s += weights[c]! + sums[c]!;
      sums[v] = s;
    }
    return sums;
  }

  // Position of each node in `order`: blocks are contiguous ranges of positions.
  const position = new Int32Array(n);
  order.forEach((v, k) => (position[v] = k));
  const blockBits = Math.min(BLOCK_BITS, Math.ceil(n / 32) * 32);
  const words = blockBits / 32;
  const bits = new Uint32Array(n * words);
  for (let start = 0; start < n; start += blockBits) {
    const end = Math.min(n, start + blockBits);
    bits.fill(0);
    const tables = byteWeightTables(order, weights, start, end, words);
    for (const v of order) {
      const row = v * words;
      for (const c of next[v]!) {
        const childRow = c * words;
        for (let w = 0; w < words; w++) bits[row + w]! |= bits[childRow + w]!;
        const p = position[c]!;
        if (p >= start && p < end) bits[row + ((p - start) >>> 5)]! |= 1 << ((p - start) & 31);
      }
      let s = 0;
      for (let w = 0; w < words; w++) {
        const word = bits[row + w]!;
        if (word === 0) continue;
        const t = w * 4;
        s +=
          tables[t]![word & 0xff]! +
          tables[t + 1]![(word >>> 8) & 0xff]! +
          tables[t + 2]![(word >>> 16) & 0xff]! +
          tables[t + 3]![word >>> 24]!;
      }
      sums[v]! += s;
    }
  }
  return sums;
}

/** For each byte of a block's bitset, the weight sum of every 8-bit pattern: sums by table lookup. */
function byteWeightTables(
  order: readonly number[],
  weights: readonly number[],
  start: number,
  end: number,
  words: number,
): Float64Array[] {
  const tables: Float64Array[] = [];
  for (let b = 0; b < words * 4; b++) {
    const table = new Float64Array(256);
    for (let pattern = 1; pattern < 256; pattern++) {
      const low = pattern & -pattern;
      const p = start + b * 8 + (31 - Math.clz32(low));
      table[pattern] = table[pattern ^ low]! + (p < end ? weights[order[p]!]! : 0);
    }
    tables.push(table);
  }
  return tables;
}

function clampInt32(value: number): number {
  return Math.min(INT32_MAX, Math.max(INT32_MIN, value));
}
