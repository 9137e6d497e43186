/**
 * Effective priority weights (Airflow's priority_weight_total): the three weight rules, sums over
 * the SET of relatives (a diamond's far corner counts once), the tree fast path agreeing with the
 * bitset path, a naive cross-check on random DAGs, a 10,000-task DAG in well under a second, and
 * the compiler applying it.
 */
import { expect } from 'chai';
import { compileDag } from '../../sdk/compile.js';
import { dag } from '../../sdk/dag.js';
import {
  effectivePriorityWeights,
  reachableWeightSums,
  type WeightRule,
  type WeightedTask,
} from '../../engine/priority.js';

/** Tasks from `edges` ("a>b") with weights and rules. */
function graph(
  edges: string[],
  weights: Record<string, number>,
  rule: WeightRule | Record<string, WeightRule> = 'downstream',
): WeightedTask[] {
  const ids = Object.keys(weights);
  const up = new Map(ids.map((id) => [id, [] as string[]]));
  const down = new Map(ids.map((id) => [id, [] as string[]]));
  for (const e of edges) {
    const [a, b] = e.split('>') as [string, string];
    down.get(a)!.push(b);
    up.get(b)!.push(a);
  }
  return ids.map((id) => ({
    task_id: id,
    upstream: up.get(id)!,
    downstream: down.get(id)!,
    priority_weight: weights[id]!,
    weight_rule: typeof rule === 'string' ? rule : (rule[id] ?? 'downstream'),
  }));
}

function byId(tasks: WeightedTask[], weights: number[]): Record<string, number> {
  return Object.fromEntries(tasks.map((t, i) => [t.task_id, weights[i]!]));
}

/** Airflow's way: a traversal per task over the set of relatives. */
function naive(tasks: WeightedTask[]): number[] {
  const index = new Map(tasks.map((t, i) => [t.task_id, i]));
  const relatives = (i: number, dir: 'downstream' | 'upstream'): Set<number> => {
    const seen = new Set<number>();
    const stack = [i];
    while (stack.length) {
      for (const n of tasks[stack.pop()!]![dir]) {
        const j = index.get(n)!;
        if (!seen.has(j)) {
          seen.add(j);
          stack.push(j);
        }
      }
    }
    return seen;
  };
  return tasks.map((t, i) => {
    if (t.weight_rule === 'absolute') return t.priority_weight;
    let s = t.priority_weight;
    for (const j of relatives(i, t.weight_rule)) s += tasks[j]!.priority_weight;
    return s;
  });
}

/** A random DAG: edges only from lower to higher index (acyclic), about `degree` per node. */
function randomDag(n: number, degree: number, seed: number, rule: () => WeightRule): WeightedTask[] {
  let x = seed;
  const rand = (): number => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const ids = Array.from({ length: n }, (_, i) => `t${i}`);
  const up: string[][] = ids.map(() => []);
  const down: string[][] = ids.map(() => []);
  for (let i = 1; i < n; i++) {
    const k = Math.floor(rand() * degree * 2);
    const parents = new Set<number>();
    for (let j = 0; j < k; j++) parents.add(Math.max(0, i - 1 - Math.floor(rand() * Math.min(i, 50))));
    for (const p of parents) {
      up[i]!.push(ids[p]!);
      down[p]!.push(ids[i]!);
    }
  }
  return ids.map((id, i) => ({
    task_id: id,
    upstream: up[i]!,
    downstream: down[i]!,
    priority_weight: 1 + Math.floor(rand() * 5),
    weight_rule: rule(),
  }));
}

describe('priority weights (weight_rule)', () => {
  it('absolute: the own weight', () => {
    const t = graph(['a>b', 'b>c'], { a: 1, b: 2, c: 3 }, 'absolute');
    expect(byId(t, effectivePriorityWeights(t))).to.deep.equal({ a: 1, b: 2, c: 3 });
  });

  it('downstream: own + every descendant, on a chain', () => {
    const t = graph(['a>b', 'b>c'], { a: 1, b: 2, c: 3 });
    expect(byId(t, effectivePriorityWeights(t))).to.deep.equal({ a: 6, b: 5, c: 3 });
  });

  it('upstream: own + every ancestor, on a chain', () => {
    const t = graph(['a>b', 'b>c'], { a: 1, b: 2, c: 3 }, 'upstream');
    expect(byId(t, effectivePriorityWeights(t))).to.deep.equal({ a: 1, b: 3, c: 6 });
  });

  it('counts the far corner of a diamond once (sum over the set of descendants)', () => {
    //    b
    //  a   d - e
    //    c
    const edges = ['a>b', 'a>c', 'b>d', 'c>d', 'd>e'];
    const weights = { a: 1, b: 10, c: 100, d: 1000, e: 10000 };
    const down = graph(edges, weights);
    expect(byId(down, effectivePriorityWeights(down))).to.deep.equal({
      a: 11111,
      b: 11010,
      c: 11100,
      d: 11000,
      e: 10000,
    });
    const up = graph(edges, weights, 'upstream');
    expect(byId(up, effectivePriorityWeights(up))).to.deep.equal({ a: 1, b: 11, c: 101, d: 1111, e: 11111 });
  });

  it("applies each task its own rule, summing the relatives' declared weights", () => {
    const t = graph(['a>b', 'b>c'], { a: 1, b: 2, c: 3 }, { a: 'absolute', b: 'upstream', c: 'downstream' });
    expect(byId(t, effectivePriorityWeights(t))).to.deep.equal({ a: 1, b: 3, c: 3 });
  });

  it('handles negative weights and clamps to the database integer range', () => {
    const t = graph(['a>b', 'a>c'], { a: -5, b: 2 ** 31 - 1, c: 10 });
    expect(byId(t, effectivePriorityWeights(t))).to.deep.equal({ a: 2 ** 31 - 1, b: 2 ** 31 - 1, c: 10 });
    const neg = graph(['a>b'], { a: -(2 ** 31), b: -10 });
    expect(byId(neg, effectivePriorityWeights(neg))).to.deep.equal({ a: -(2 ** 31), b: -10 });
  });

  it('agrees with a per-task traversal on random DAGs (tree path and bitset path, across block boundaries)', () => {
    const rules: WeightRule[] = ['downstream', 'upstream', 'absolute'];
    let r = 0;
    for (const [n, degree, seed] of [
      [40, 1.5, 1],
      [300, 2, 7],
      [2600, 1.2, 3],
      [2600, 0.8, 11],
    ] as const) {
      const tasks = randomDag(n, degree, seed, () => rules[r++ % 3]!);
      expect(effectivePriorityWeights(tasks), `n=${n} seed=${seed}`).to.deep.equal(naive(tasks));
    }
    // A forest (every node has at most one parent) takes the O(V+E) path; same answer as the bitsets.
    const next = [[1, 2], [3], [4, 5], [], [], []];
    const prev = [[], [0], [0], [1], [2], [2]];
    const w = [1, 2, 4, 8, 16, 32];
    expect(reachableWeightSums(next, prev, w)).to.deep.equal([62, 8, 48, 0, 0, 0]);
    const withExtraParent = [[1, 2], [3], [3, 4, 5], [], [], []];
    expect(reachableWeightSums(withExtraParent, [[], [0], [0], [1, 2], [2], [2]], w)).to.deep.equal([
      62, 8, 56, 0, 0, 0,
    ]);
  });

  it('computes a 10,000-task DAG with 20,000+ edges quickly', function () {
    const tasks = randomDag(10_000, 2, 5, () => 'downstream');
    const started = process.hrtime.bigint();
    const weights = effectivePriorityWeights(tasks);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(weights).to.have.length(10_000);
    expect(weights[10_000 - 1]).to.equal(tasks[10_000 - 1]!.priority_weight); // the last task has no descendants
    expect(ms, `took ${ms.toFixed(0)} ms`).to.be.below(3000);
  });

  it('is applied by the compiler: effective priority_weight, declared one kept where it differs', () => {
    const { spec } = compileDag(
      dag({ dagId: 'weights' }, (d) => {
        const a = d.task({ taskId: 'a', priorityWeight: 2 }, () => 1);
        const b = d.task({ taskId: 'b', priorityWeight: 3 }, () => 1);
        const c = d.task({ taskId: 'c', priorityWeight: 4, weightRule: 'upstream' }, () => 1);
        const z = d.task({ taskId: 'z', weightRule: 'absolute' }, () => 1);
        d.chain(a, [b, c], z);
      }),
      'weights.ts',
    );
    const got = Object.fromEntries(spec.tasks.map((t) => [t.task_id, [t.priority_weight, t.declared_priority_weight]]));
    expect(got).to.deep.equal({ a: [10, 2], b: [4, 3], c: [6, 4], z: [1, undefined] });
  });
});
