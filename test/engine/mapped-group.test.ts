/**
 * Mapped task groups without Temporal: what the compiler emits (every member mapped over the
 * group's arguments, in-group edges per instance, the pusher upstream of every member), what it
 * refuses, each instance's input, and RunGraph's per-instance gating (a member's instance waits for
 * the same map_index of its in-group upstream; a failed instance fails only its own downstream).
 */
import { expect } from 'chai';
import { compileDag } from '../../sdk/compile.js';
import { dag, type DagBuilder } from '../../sdk/dag.js';
import { DagDefinitionError } from '../../sdk/errors.js';
import { instanceTemplate } from '../../engine/mapping.js';
import { RunGraph } from '../../engine/run-graph.js';
import type { DagSpec, TaskSpec } from '../../spec/dag-spec.js';
import { TaskInstanceState as S } from '../../spec/states.js';

function compile(build: (d: DagBuilder) => void): DagSpec {
  return compileDag(dag({ dagId: 'mg' }, build), 'mg.ts').spec;
}

function compileError(build: (d: DagBuilder) => void): string {
  try {
    compile(build);
  } catch (err) {
    expect(err).to.be.instanceOf(DagDefinitionError);
    return (err as Error).message;
  }
  throw new Error('compiled without an error');
}

/** files → per_file.{read → parse} → report; per_file also has `note` with no in-group upstream. */
const spec = compile((d) => {
  const files = d.task({ taskId: 'files' }, () => ['a', 'b', 'c']);
  const g = d.mappedGroup({ groupId: 'per_file', expand: { file: files() } }, (g, args) => {
    const read = g.task({ taskId: 'read' }, (i: { file: string }) => i.file)({ file: args.file });
    g.task({ taskId: 'note' }, (i: { f: string }) => i.f)({ f: args.file });
    return g.task({ taskId: 'parse' }, (s: string) => s.length)(read);
  });
  d.task({ taskId: 'report', triggerRule: 'all_done' }, (xs: number[]) => xs)(g.result);
});
const task = (id: string): TaskSpec => spec.tasks.find((t) => t.task_id === id)!;

describe('mapped task groups: compiling', () => {
  it('maps every member over the group arguments; in-group edges are per instance', () => {
    expect(task('per_file.read').mapped).to.deep.equal({
      kind: 'group',
      group_id: 'per_file',
      expand: [['file', { $xcom: { task_id: 'files', key: 'return_value', path: [] } }]],
      instance_upstream: [],
    });
    expect(task('per_file.parse').mapped).to.deep.include({ instance_upstream: ['per_file.read'] });
    expect(task('per_file.parse').upstream).to.deep.equal(['files', 'per_file.read']);
    expect(task('per_file.read').input).to.deep.equal({
      file: { $map_arg: { group: 'per_file', arg: 'file', path: [] } },
    });
    expect(task('report').upstream).to.deep.equal(['per_file.parse']);
    expect(
      task('files')
        .map_sources?.map((m) => m.consumer)
        .sort(),
    ).to.deep.equal(['per_file.note', 'per_file.parse', 'per_file.read']);
  });

  it("gives each instance its element and the same instance of its in-group upstream's output", () => {
    const read = task('per_file.read');
    expect(instanceTemplate(read.mapped!, 2, [3], read.input)).to.deep.equal({
      file: { $xcom: { task_id: 'files', key: 'return_value', path: ['2'] } },
    });
    const parse = task('per_file.parse');
    expect(instanceTemplate(parse.mapped!, 1, [3], parse.input)).to.deep.equal({
      $xcom: { task_id: 'per_file.read', key: 'return_value', path: [], map_index: 1 },
    });
    const literal = compile((d) => {
      d.mappedGroup({ groupId: 'g', expand: { x: [1, 2], cfg: [{ lr: 0.1 }, { lr: 0.2 }] } }, (g, args) => {
        g.task({ taskId: 't' }, (i: { x: number; lr: number }) => i)({ x: args.x, lr: args.cfg.get('lr') });
      });
    }).tasks[0]!;
    // The last key varies fastest: instance 1 is (x=1, cfg[1]).
    expect(instanceTemplate(literal.mapped!, 1, [2, 2], literal.input)).to.deep.equal({ x: 1, lr: 0.2 });
  });

  it('refuses what is not built or not allowed, naming the group and the task', () => {
    expect(
      compileError((d) => {
        const g = d.mappedGroup({ groupId: 'g', expand: { x: [1] } }, (g, args) => args.x);
        d.task({ taskId: 'outside' }, (i: { x: unknown }) => i)({ x: g.result });
      }),
    ).to.match(/uses the argument "x" of mapped task group "g", but the task is not inside that group/);
    expect(
      compileError((d) => {
        d.mappedGroup({ groupId: 'g', expand: { x: 'abc' as unknown as string[] } }, (g) => g.empty({ taskId: 't' }));
      }),
    ).to.contain('mapped task group "g": expand.x must be a list or a task output (XComArg), got string');
    expect(
      compileError((d) => {
        d.mappedGroup({ groupId: 'outer', expand: { x: [1] } }, (g) => {
          g.mappedGroup({ groupId: 'inner', expand: { y: [1] } }, (h) => h.empty({ taskId: 't' }));
        });
      }),
    ).to.contain('nested mapped groups are not built');
    expect(
      compileError((d) => {
        d.mappedGroup({ groupId: 'g', expand: { x: [1] } }, (g) => {
          g.task({ taskId: 't' }, (i: { y: number }) => i.y).expand({ y: [1, 2] });
        });
      }),
    ).to.contain('cannot be expanded itself (not built)');
  });
});

describe('mapped task groups: RunGraph gating', () => {
  const idx = (g: RunGraph, id: string): number => g.indexOf.get(id)!;
  const instanceStates = (g: RunGraph, id: string): string[] => [...g.mapped.get(idx(g, id))!.state];

  it('hands out an instance when the same instance of its in-group upstream succeeded; a failure fails only its own', () => {
    const g = new RunGraph(spec);
    g.evaluateAll();
    const files = idx(g, 'files');
    expect(g.takeReady(10)).to.deep.equal([files]);
    g.markInFlight(files, S.RUNNING, 1);
    g.finish(files, S.SUCCESS);
    // Every member is handed out (expanded) now; parse's instances wait for read's.
    const ready = g
      .takeReady(10)
      .map((i) => g.tasks[i]!.task_id)
      .sort();
    expect(ready).to.deep.equal(['per_file.note', 'per_file.parse', 'per_file.read']);
    for (const id of ready) expect(g.expandMapped(idx(g, id), 3)).to.deep.equal([]);
    const read = idx(g, 'per_file.read');
    const parse = idx(g, 'per_file.parse');
    expect(g.takeInstances(parse, 10)).to.deep.equal([]);
    expect(g.takeInstances(read, 10)).to.deep.equal([0, 1, 2]);

    g.finishInstance(read, 1, S.SUCCESS);
    expect(g.takeInstances(parse, 10)).to.deep.equal([1]);
    const decisions = g.finishInstance(read, 0, S.FAILED);
    expect(decisions.map((d) => [g.tasks[d.index]!.task_id, d.mapIndex, d.state])).to.deep.equal([
      ['per_file.parse', 0, 'upstream_failed'],
    ]);
    expect(instanceStates(g, 'per_file.parse')).to.deep.equal(['upstream_failed', 'scheduled', 'none']);
    g.finishInstance(read, 2, S.SUCCESS);
    expect(g.takeInstances(parse, 10)).to.deep.equal([2]);
  });

  it('a member that never expands decides every instance downstream of it in the group', () => {
    const s = compile((d) => {
      const gate = d.task({ taskId: 'gate' }, () => 1);
      d.mappedGroup({ groupId: 'g', expand: { x: [1, 2] } }, (g, args) => {
        const first = g.task({ taskId: 'first' }, (i: { x: number }) => i.x)({ x: args.x });
        const second = g.task({ taskId: 'second' }, (n: number) => n)(first);
        g.chain(gate, first);
        return second;
      });
    });
    const g = new RunGraph(s);
    g.evaluateAll();
    const second = idx(g, 'g.second');
    // second has no upstream outside the group: it expands at once and waits per instance.
    const ready = g.takeReady(10);
    expect(ready.map((i) => g.tasks[i]!.task_id).sort()).to.deep.equal(['g.second', 'gate']);
    g.expandMapped(second, 2);
    g.markInFlight(idx(g, 'gate'), S.RUNNING, 1);
    const decisions = g.finish(idx(g, 'gate'), S.FAILED);
    // first is upstream_failed without expanding; both instances of second follow.
    expect(decisions.map((d) => [g.tasks[d.index]!.task_id, d.mapIndex ?? -1, d.state])).to.deep.equal([
      ['g.first', -1, 'upstream_failed'],
      ['g.second', 0, 'upstream_failed'],
      ['g.second', 1, 'upstream_failed'],
    ]);
    expect(g.state[second]).to.equal('upstream_failed');
    expect(g.runOutcome(0).state).to.equal('failed');
  });

  it('restores gated instances across continue-as-new and decides the rest', () => {
    const carried = spec.tasks.map((t) => {
      if (t.task_id === 'files') return { state: S.SUCCESS, try_number: 1 };
      if (t.task_id === 'per_file.read')
        return { state: S.RUNNING, try_number: 0, mapped: { n: 3, states: 'sfn', tries: [2, 1, 1, 0] } };
      if (t.task_id === 'per_file.parse')
        return { state: S.RUNNING, try_number: 0, mapped: { n: 3, states: 'snn', tries: [1, 1, 2, 0] } };
      return { state: S.NONE, try_number: 0 };
    });
    const g = new RunGraph(spec, carried);
    const decisions = g.evaluateAll();
    expect(
      decisions.filter((d) => d.mapIndex !== undefined).map((d) => [g.tasks[d.index]!.task_id, d.mapIndex, d.state]),
    ).to.deep.equal([['per_file.parse', 1, 'upstream_failed']]);
    expect(g.takeInstances(idx(g, 'per_file.parse'), 10)).to.deep.equal([]);
    g.finishInstance(idx(g, 'per_file.read'), 2, S.SUCCESS);
    expect(g.takeInstances(idx(g, 'per_file.parse'), 10)).to.deep.equal([2]);
  });
});
