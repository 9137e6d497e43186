/**
 * Dynamic task mapping, pure parts: the compiler's MappedSpec and map_sources, Airflow's order for
 * a cross product, instance inputs, checks of the pushed value (non-list, list of non-dicts,
 * max_map_length, nothing pushed), and how downstream trigger rules count mapped instances.
 */
import { expect } from 'chai';
import { compileDag } from '../../sdk/compile.js';
import { dag, type DagBuilder } from '../../sdk/dag.js';
import {
  checkMappable,
  elementIndices,
  expansionLength,
  instanceTemplate,
  aggregateState,
} from '../../engine/mapping.js';
import { RunGraph } from '../../engine/run-graph.js';
import type { DagSpec, MapSourceSpec } from '../../spec/dag-spec.js';
import { TaskInstanceState as S, type TaskInstanceState } from '../../spec/states.js';

function compile(build: (d: DagBuilder) => void, opts: { maxMapLength?: number } = {}): DagSpec {
  return compileDag(dag({ dagId: 'm', ...opts }, build), 'm.ts').spec;
}

const task = (spec: DagSpec, id: string) => spec.tasks.find((t) => t.task_id === id)!;

describe('mapping: compiler', function () {
  it('compiles partial().expand() into a MappedSpec and marks the pushing task', function () {
    const spec = compile(
      (d) => {
        const make = d.task({ taskId: 'make' }, () => ({ files: ['a', 'b'] }));
        const each = d.task({ taskId: 'each' }, (i: { file: string; n: number; mode: string }) => i.file);
        each.partial({ mode: 'fast' }).expand({ file: make().get('files'), n: [1, 2, 3] });
      },
      { maxMapLength: 50 },
    );
    expect(task(spec, 'each').mapped).to.deep.equal({
      kind: 'expand',
      partial: { mode: 'fast' },
      expand: [
        ['file', { $xcom: { task_id: 'make', key: 'return_value', path: ['files'] } }],
        ['n', [1, 2, 3]],
      ],
    });
    expect(task(spec, 'each').input).to.equal(null);
    expect(task(spec, 'each').upstream).to.deep.equal(['make']);
    expect(task(spec, 'make').map_sources).to.deep.equal([{ consumer: 'each', arg: 'file', path: ['files'] }]);
    expect(spec.max_map_length).to.equal(50);
  });

  it('compiles expandKwargs over a literal list and over an upstream output', function () {
    const spec = compile((d) => {
      const cfg = d.task({ taskId: 'cfg' }, () => [{ a: 1 }]);
      const t1 = d.task({ taskId: 't1' }, (i: { a: number }) => i.a);
      const t2 = d.task({ taskId: 't2' }, (i: { a: number; b: number }) => i.a);
      t1.expandKwargs(cfg());
      t2.partial({ b: 2 }).expandKwargs([{ a: 1 }, { a: 2 }]);
    });
    expect(task(spec, 't1').mapped).to.deep.equal({
      kind: 'expand_kwargs',
      partial: {},
      source: { $xcom: { task_id: 'cfg', key: 'return_value', path: [] } },
    });
    expect(task(spec, 'cfg').map_sources).to.deep.equal([{ consumer: 't1', arg: null, path: [] }]);
    expect(task(spec, 't2').mapped).to.deep.equal({
      kind: 'expand_kwargs',
      partial: { b: 2 },
      source: [{ a: 1 }, { a: 2 }],
    });
  });

  const rejects: Array<[string, (d: DagBuilder) => void, string]> = [
    [
      'a non-list literal',
      (d) => {
        d.task({ taskId: 'e' }, (i: { x: number }) => i.x).expand({ x: 3 as never });
      },
      'DAG "m", task "e": expand: expand.x must be a list or a task output (XComArg), got number',
    ],
    [
      'no keys',
      (d) => {
        d.task({ taskId: 'e' }, (i: { x: number }) => i.x).expand({});
      },
      'DAG "m", task "e": expand: expand() needs at least one argument to map over',
    ],
    [
      'overlapping partial and mapped keys',
      (d) => {
        d.task({ taskId: 'e' }, (i: { x: number }) => i.x)
          .partial({ x: 1 })
          .expand({ x: [1] });
      },
      'DAG "m", task "e": expand: mapped and partial arguments overlap: x',
    ],
    [
      'expandKwargs items that are not objects',
      (d) => {
        d.task({ taskId: 'e' }, (i: { x: number }) => i.x).expandKwargs([1] as never);
      },
      'DAG "m", task "e": expandKwargs: expandKwargs[0] must be an object of arguments, got number',
    ],
    [
      'a mapped branch',
      (d) => {
        d.branch({ taskId: 'b' }, (i: { x: number }) => String(i.x)).expand({ x: [1] });
      },
      'DAG "m", task "b": expand: a branch task cannot be mapped (not built)',
    ],
    [
      'mapping over a mapped task',
      (d) => {
        const a = d.task({ taskId: 'a' }, (i: { x: number }) => [i.x]);
        d.task({ taskId: 'b' }, (i: { y: number[] }) => i.y).expand({ y: a.expand({ x: [1] }) as never });
      },
      'DAG "m", task "b": expand: expand.y maps over the output of mapped task "a" (mapping over a mapped task\'s results is not built)',
    ],
    [
      'trigger rule always over a task output',
      (d) => {
        const a = d.task({ taskId: 'a' }, () => [1]);
        d.task({ taskId: 'b', triggerRule: 'always' }, (i: { y: number }) => i.y).expand({ y: a() });
      },
      'DAG "m", task "b": triggerRule: trigger rule "always" is not allowed on a task mapped over another task\'s output (Airflow forbids it)',
    ],
    [
      'expanding twice',
      (d) => {
        const e = d.task({ taskId: 'e' }, (i: { x: number }) => i.x);
        e.expand({ x: [1] });
        e.expand({ x: [2] });
      },
      'DAG "m", task "e": task "e" is called or expanded twice; each call would be a separate task, so declare another task with its own taskId',
    ],
  ];
  for (const [what, build, message] of rejects) {
    it(`rejects ${what}`, function () {
      expect(() => compile(build)).to.throw(message);
    });
  }

  it('rejects a non-positive maxMapLength', function () {
    expect(() => compile(() => undefined, { maxMapLength: 0 })).to.throw(
      'DAG "m": maxMapLength: expected a positive integer, got 0',
    );
  });
});

describe('mapping: expansion order and instance inputs', function () {
  const cases: Array<[number[], number, number[]]> = [
    [[3], 2, [2]],
    [[2, 3], 0, [0, 0]],
    [[2, 3], 1, [0, 1]], // the last key varies fastest (itertools.product)
    [[2, 3], 3, [1, 0]],
    [[2, 3], 5, [1, 2]],
    [[2, 2, 2], 6, [1, 1, 0]],
  ];
  for (const [lengths, mapIndex, expected] of cases) {
    it(`instance ${mapIndex} of lengths ${JSON.stringify(lengths)} takes elements ${JSON.stringify(expected)}`, function () {
      expect(elementIndices(mapIndex, lengths)).to.deep.equal(expected);
    });
  }

  it('multiplies lengths (zero-length input → zero instances)', function () {
    expect(expansionLength([3, 2])).to.equal(6);
    expect(expansionLength([3, 0])).to.equal(0);
  });

  it("builds each instance's input in Airflow's cross-product order", function () {
    const mapped = {
      kind: 'expand' as const,
      partial: { mode: 'm' },
      expand: [
        ['n', [1, 2]],
        ['s', { $xcom: { task_id: 'up', key: 'return_value', path: ['xs'] } }],
      ] as Array<[string, never]>,
    };
    const inputs = [0, 1, 2, 3].map((i) => instanceTemplate(mapped, i, [2, 2]));
    expect(inputs).to.deep.equal([
      { mode: 'm', n: 1, s: { $xcom: { task_id: 'up', key: 'return_value', path: ['xs', '0'] } } },
      { mode: 'm', n: 1, s: { $xcom: { task_id: 'up', key: 'return_value', path: ['xs', '1'] } } },
      { mode: 'm', n: 2, s: { $xcom: { task_id: 'up', key: 'return_value', path: ['xs', '0'] } } },
      { mode: 'm', n: 2, s: { $xcom: { task_id: 'up', key: 'return_value', path: ['xs', '1'] } } },
    ]);
  });

  it('merges expandKwargs elements over the partial arguments (by reference: $merge)', function () {
    expect(
      instanceTemplate({ kind: 'expand_kwargs', partial: { b: 1 }, source: [{ a: 1 }, { a: 2, b: 5 }] }, 1, [2]),
    ).to.deep.equal({ a: 2, b: 5 });
    expect(
      instanceTemplate(
        {
          kind: 'expand_kwargs',
          partial: { b: 1 },
          source: { $xcom: { task_id: 'c', key: 'return_value', path: [] } },
        },
        1,
        [2],
      ),
    ).to.deep.equal({ $merge: [{ b: 1 }, { $xcom: { task_id: 'c', key: 'return_value', path: ['1'] } }] });
  });
});

describe('mapping: checks of the pushed value (the pushing task fails, as in Airflow)', function () {
  const source: MapSourceSpec = { consumer: 'each', arg: 'x', path: ['items'] };
  const kwargs: MapSourceSpec = { consumer: 'each', arg: null, path: [] };
  const cases: Array<[string, unknown, MapSourceSpec, number, string | number]> = [
    ['a list', { items: [1, 2, 3] }, source, 1024, 3],
    ['an empty list', { items: [] }, source, 1024, 0],
    [
      'an int',
      { items: 42 },
      source,
      1024,
      'UnmappableXComTypePushed: task "each" expand() argument "x" maps over the return value of "push" at "items", which must be a list; got unmappable type \'int\'',
    ],
    [
      'a dict',
      { items: { a: 1 } },
      source,
      1024,
      'UnmappableXComTypePushed: task "each" expand() argument "x" maps over the return value of "push" at "items", which must be a list; got unmappable type \'dict\'',
    ],
    [
      'a missing field',
      {},
      source,
      1024,
      'UnmappableXComTypePushed: task "each" expand() argument "x" maps over the return value of "push" at "items", which must be a list; got nothing',
    ],
    [
      'nothing',
      undefined,
      source,
      1024,
      'XComForMappingNotPushed: task "push" returned nothing, but task "each" expand() argument "x" maps over the return value of "push" at "items"; return a list',
    ],
    [
      'a list over max_map_length',
      { items: [1, 2, 3] },
      source,
      2,
      'UnmappableXComLengthPushed: task "push" pushed 3 items, more than max_map_length (2); task "each" expand() argument "x" maps over the return value of "push" at "items"',
    ],
    ['a list of dicts for expandKwargs', [{ a: 1 }], kwargs, 1024, 1],
    [
      'a list of strings for expandKwargs',
      [{ a: 1 }, 'x'],
      kwargs,
      1024,
      'UnmappableXComTypePushed: task "each" expandKwargs() maps over the return value of "push", which must be a list of dicts; item 1 has unmappable type \'str\'',
    ],
  ];
  for (const [what, value, src, limit, expected] of cases) {
    it(`${what} → ${typeof expected === 'number' ? `length ${expected}` : expected.split(':')[0]}`, function () {
      const run = (): number => checkMappable('push', value as never, src, limit);
      if (typeof expected === 'number') expect(run()).to.equal(expected);
      else {
        try {
          run();
        } catch (err) {
          expect(`${(err as Error).name}: ${(err as Error).message}`).to.equal(expected);
          return;
        }
        throw new Error('expected a throw');
      }
    });
  }
});

describe('mapping: downstream trigger rules count mapped instances (RunGraph)', function () {
  function graphFor(rule: string): { g: RunGraph; m: number; down: number } {
    const spec = compile((d) => {
      const each = d.task({ taskId: 'each' }, (i: { x: number }) => i.x);
      const down = d.empty({ taskId: 'down', triggerRule: rule as never });
      d.chain(each.expand({ x: [1, 2, 3] }), down);
    });
    const g = new RunGraph(spec);
    g.evaluateAll();
    const m = g.indexOf.get('each')!;
    g.takeReady(10);
    g.expandMapped(m, 3);
    return { g, m, down: g.indexOf.get('down')! };
  }
  const agg = (states: readonly TaskInstanceState[]): TaskInstanceState => aggregateState(states) as TaskInstanceState;

  const cases: Array<[string, TaskInstanceState[], string, string]> = [
    // rule, instance outcomes in order, state of `down` after each instance, final `each` state
    ['all_success', [S.SUCCESS, S.SUCCESS, S.SUCCESS], 'none,none,scheduled', 'success'],
    ['all_success', [S.SUCCESS, S.FAILED, S.SUCCESS], 'none,upstream_failed,upstream_failed', 'failed'],
    ['one_success', [S.FAILED, S.SUCCESS, S.FAILED], 'none,scheduled,scheduled', 'failed'],
    ['all_done', [S.SUCCESS, S.FAILED, S.SKIPPED], 'none,none,scheduled', 'failed'],
    ['all_skipped', [S.SKIPPED, S.SKIPPED, S.SKIPPED], 'none,none,scheduled', 'skipped'],
    ['none_failed', [S.SUCCESS, S.SKIPPED, S.SUCCESS], 'none,none,scheduled', 'success'],
    ['one_failed', [S.SUCCESS, S.SUCCESS, S.SUCCESS], 'none,none,skipped', 'success'],
  ];
  for (const [rule, outcomes, downStates, final] of cases) {
    it(`${rule} over instances ${outcomes.join(',')} → down ${downStates}`, function () {
      const { g, m, down } = graphFor(rule);
      expect(g.takeInstances(m, 10)).to.deep.equal([0, 1, 2]);
      const seen: string[] = [];
      outcomes.forEach((o, k) => {
        g.finishInstance(m, k, o, agg);
        seen.push(g.state[down]!);
      });
      expect(seen.join(',')).to.equal(downStates);
      expect(g.state[m]).to.equal(final);
    });
  }

  it('carries instance states across continue-as-new compactly and restores the counts', function () {
    const { g, m, down } = graphFor('all_done');
    g.takeInstances(m, 2);
    g.markInstance(m, 0, S.RUNNING, 1);
    g.finishInstance(m, 0, S.SUCCESS, agg);
    g.markInstance(m, 1, S.RUNNING, 2);
    g.finishInstance(m, 1, S.FAILED, agg);
    const carried = g.carriedMapped(m)!;
    expect(carried).to.deep.equal({ n: 3, states: 'sfn', tries: [1, 1, 1, 2, 1, 0] });
    const spec = { tasks: g.tasks } as DagSpec;
    const restored = new RunGraph(
      spec,
      g.tasks.map((_, i) => ({
        state: i === m ? S.RUNNING : g.state[i]!,
        try_number: 0,
        ...(i === m ? { mapped: carried } : {}),
      })),
    );
    restored.evaluateAll();
    expect(restored.takeReady(10)).to.deep.equal([m]);
    expect(restored.takeInstances(m, 10)).to.deep.equal([2]);
    expect(restored.mapped.get(m)!.tryNumber).to.deep.equal([1, 2, 0]);
    restored.finishInstance(m, 2, S.SKIPPED, agg);
    expect(restored.state[down]).to.equal(S.SCHEDULED);
    expect(restored.state[m]).to.equal(S.FAILED);
  });
});
