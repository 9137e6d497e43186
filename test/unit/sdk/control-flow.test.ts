/**
 * The compiler's control flow: task groups (prefixes, nesting, group defaultArgs, group edges in
 * chain(), duplicate ids), branch / short-circuit / latest-only specs and the branch result check,
 * setup/teardown flags and edges, and callbacks (spec flags, resolver keys, combined errors).
 */
import { expect } from 'chai';
import { callbackKey, type CallbackContext } from '../../../sdk/callbacks.js';
import { compileDag, CallbackError } from '../../../sdk/compile.js';
import type { TaskContext } from '../../../sdk/context.js';
import { BranchError, branchTargets } from '../../../engine/control-flow.js';
import { dag, type DagBuilder } from '../../../sdk/dag.js';
import type { DagOptions } from '../../../sdk/options.js';
import type { DagSpec, TaskSpec } from '../../../spec/dag-spec.js';
import { expectDefinitionError } from './definition-error.js';

function compile(build: (d: DagBuilder) => void, options: Partial<DagOptions> = {}): ReturnType<typeof compileDag> {
  return compileDag(dag({ dagId: 'cf', ...options }, build), 'cf.ts');
}

function task(spec: DagSpec, id: string): TaskSpec {
  const t = spec.tasks.find((x) => x.task_id === id);
  if (!t) throw new Error(`no task ${id} (have ${spec.tasks.map((x) => x.task_id).join(', ')})`);
  return t;
}

const logged: string[] = [];
const ctx = {
  log: { info: (m: string) => logged.push(m), warn: () => undefined, error: () => undefined },
} as unknown as TaskContext;
const noop = (): number => 1;

describe('compiler: task groups', () => {
  it('prefixes ids with the group path, records task_group, and honours prefixGroupId: false (as Airflow does)', () => {
    const { spec } = compile((d) => {
      d.empty({ taskId: 'start' });
      d.group({ groupId: 'section_1' }, (g) => {
        g.empty({ taskId: 'task_1' });
        g.group({ groupId: 'inner' }, (i) => {
          i.empty({ taskId: 'task_2' });
        });
        g.group({ groupId: 'flat', prefixGroupId: false }, (f) => {
          f.empty({ taskId: 'unprefixed' });
          f.group({ groupId: 'deeper' }, (x) => x.empty({ taskId: 'task_3' }));
        });
      });
    });
    expect(spec.tasks.map((t) => [t.task_id, t.task_group ?? null])).to.deep.equal([
      // A group inside a non-prefixing group is not prefixed by it either (Airflow's TaskGroup.group_id).
      ['deeper.task_3', 'deeper'],
      ['section_1.inner.task_2', 'section_1.inner'],
      ['section_1.task_1', 'section_1'],
      ['start', null],
      ['unprefixed', 'section_1.flat'],
    ]);
    expect(task(spec, 'start')).to.not.have.property('task_group');
    expect(spec.task_groups).to.deep.equal({
      section_1: { parent: null, prefix_group_id: true, tooltip: null },
      'section_1.inner': { parent: 'section_1', prefix_group_id: true, tooltip: null },
      'section_1.flat': { parent: 'section_1', prefix_group_id: false, tooltip: null },
      deeper: { parent: 'section_1.flat', prefix_group_id: true, tooltip: null },
    });
  });

  it('applies group defaultArgs over the DAG defaults, nested groups over outer ones, task options over both', () => {
    const { spec } = compile(
      (d) => {
        d.empty({ taskId: 'top' });
        d.group({ groupId: 'g', defaultArgs: { retries: 2, owner: 'group' } }, (g) => {
          g.empty({ taskId: 'a' });
          g.empty({ taskId: 'b', retries: 5 });
          g.group({ groupId: 'h', defaultArgs: { retries: 3 } }, (h) => h.empty({ taskId: 'c' }));
        });
      },
      { defaultArgs: { retries: 1, owner: 'dag', retryDelay: '10s' } },
    );
    const view = (id: string): [number, string, number] => [
      task(spec, id).retries,
      task(spec, id).owner,
      task(spec, id).retry_delay,
    ];
    expect(view('top')).to.deep.equal([1, 'dag', 10]);
    expect(view('g.a')).to.deep.equal([2, 'group', 10]);
    expect(view('g.b')).to.deep.equal([5, 'group', 10]);
    expect(view('g.h.c')).to.deep.equal([3, 'group', 10]);
  });

  it('links task >> group to the roots and group >> task from the leaves', () => {
    const { spec } = compile((d) => {
      const start = d.empty({ taskId: 'start' });
      const end = d.empty({ taskId: 'end' });
      const g = d.group({ groupId: 'g' }, (b) => {
        const a = b.empty({ taskId: 'a' });
        const x = b.empty({ taskId: 'x' });
        const y = b.empty({ taskId: 'y' });
        b.chain(a, [x, y]);
      });
      d.chain(start, g, end);
    });
    expect(task(spec, 'g.a').upstream).to.deep.equal(['start']);
    expect(task(spec, 'end').upstream).to.deep.equal(['g.x', 'g.y']);
  });

  it('links group >> group (leaves to roots), excluding teardowns from the leaves', () => {
    const { spec } = compile((d) => {
      const g1 = d.group({ groupId: 'g1' }, (b) => {
        const s = b.task({ taskId: 'setup' }, noop).asSetup();
        const w = b.task({ taskId: 'work' }, noop);
        const t = b.task({ taskId: 'teardown' }, noop).asTeardown({ setups: s });
        b.chain(s, w, t);
      });
      const g2 = d.group({ groupId: 'g2' }, (b) => {
        b.chain(b.empty({ taskId: 'p' }), b.empty({ taskId: 'q' }));
        b.empty({ taskId: 'r' });
      });
      d.chain(g1, g2);
    });
    expect(task(spec, 'g2.p').upstream).to.deep.equal(['g1.work']);
    expect(task(spec, 'g2.r').upstream).to.deep.equal(['g1.work']);
    expect(task(spec, 'g2.q').upstream).to.deep.equal(['g2.p']);
    expect(task(spec, 'g1.teardown').downstream).to.deep.equal([]);
  });

  it('computes group ends after every edge is known, whatever the order of chain() calls', () => {
    const { spec } = compile((d) => {
      const g = d.group({ groupId: 'g' }, (b) => ({ a: b.empty({ taskId: 'a' }), b: b.empty({ taskId: 'b' }) }));
      const end = d.empty({ taskId: 'end' });
      d.chain(g, end);
      d.chain(g.result.a, g.result.b); // declared after the group edge: end still follows b only
    });
    expect(task(spec, 'end').upstream).to.deep.equal(['g.b']);
    expect(task(spec, 'g.b').upstream).to.deep.equal(['g.a']);
  });

  it('links nested groups inside a group before the outer group edge', () => {
    const { spec } = compile((d) => {
      const outer = d.group({ groupId: 'outer' }, (o) => {
        const i1 = o.group({ groupId: 'i1' }, (i) => i.empty({ taskId: 'x' }));
        const i2 = o.group({ groupId: 'i2' }, (i) => i.empty({ taskId: 'y' }));
        o.chain(i1, i2);
      });
      d.chain(d.empty({ taskId: 'start' }), outer, d.empty({ taskId: 'end' }));
    });
    expect(task(spec, 'outer.i1.x').upstream).to.deep.equal(['start']);
    expect(task(spec, 'outer.i2.y').upstream).to.deep.equal(['outer.i1.x']);
    expect(task(spec, 'end').upstream).to.deep.equal(['outer.i2.y']);
  });

  it('allows the same task id in different groups and rejects duplicates that prefixes do not separate', () => {
    const { spec } = compile((d) => {
      d.group({ groupId: 'g1' }, (b) => b.empty({ taskId: 'load' }));
      d.group({ groupId: 'g2' }, (b) => b.empty({ taskId: 'load' }));
    });
    expect(spec.tasks.map((t) => t.task_id)).to.deep.equal(['g1.load', 'g2.load']);
    expectDefinitionError(
      () =>
        compile((d) => {
          d.group({ groupId: 'g1', prefixGroupId: false }, (b) => b.empty({ taskId: 'load' }));
          d.group({ groupId: 'g2', prefixGroupId: false }, (b) => b.empty({ taskId: 'load' }));
        }),
      'DAG "cf", task "load": taskId: duplicate task_id "load" (declared in group "g1" and in group "g2") (task ids must be unique within a DAG)',
    );
  });

  it('rejects bad group ids, duplicate groups, a group named like a task, and a group chained to its own task', () => {
    expectDefinitionError(
      () => compile((d) => d.group({ groupId: 'a.b' }, (b) => b.empty({ taskId: 'x' }))),
      `DAG "cf": groupId: task group id "a.b" may contain only ASCII letters, digits, '-' and '_' (dots separate nested groups)`,
    );
    expectDefinitionError(
      () =>
        compile((d) => {
          d.group({ groupId: 'g' }, (b) => b.empty({ taskId: 'x' }));
          d.group({ groupId: 'g' }, (b) => b.empty({ taskId: 'y' }));
        }),
      'DAG "cf": groupId: duplicate task group id "g" (group ids must be unique within a DAG)',
    );
    expectDefinitionError(
      () =>
        compile((d) => {
          d.empty({ taskId: 'g' });
          d.group({ groupId: 'g' }, (b) => b.empty({ taskId: 'y' }));
        }),
      'DAG "cf": groupId: task group id "g" is also a task id (Airflow keeps them in one namespace)',
    );
    expectDefinitionError(
      () =>
        compile((d) => {
          const g = d.group({ groupId: 'g' }, (b) => b.empty({ taskId: 'y' }));
          d.chain(g, g.result);
        }),
      'DAG "cf": chain: chain() links task group "g" to its own task "g.y"',
    );
  });
});

describe('compiler: branch, short-circuit, latest-only', () => {
  const branchDag = (pick: () => unknown): ReturnType<typeof compileDag> =>
    compile((d) => {
      const b = d.branch({ taskId: 'pick' }, pick as () => string);
      const g = d.group({ groupId: 'grp' }, (x) => x.empty({ taskId: 'inside' }));
      d.chain(b, [d.empty({ taskId: 'a' }), d.empty({ taskId: 'b' }), g]);
      d.chain(d.empty({ taskId: 'unrelated' }));
    });

  it('records the control spec, the operator, and the downstream groups a branch may name', () => {
    const { spec } = branchDag(() => 'a');
    const pick = task(spec, 'pick');
    expect(pick.kind).to.equal('function');
    expect(pick.operator).to.equal('BranchTypeScriptOperator');
    expect(pick.control).to.deep.equal({ type: 'branch', groups: { grp: ['grp.inside'] } });
    expect(pick.downstream).to.deep.equal(['a', 'b', 'grp.inside']);
  });

  it('wraps the branch function: valid ids pass through, an unknown id fails with the valid choices', async () => {
    const ok = branchDag(() => ['a', 'grp']).functions.get('pick')!;
    expect(await ok(undefined, ctx)).to.deep.equal(['a', 'grp']);
    expect(logged.pop()).to.equal('following a, grp.inside; skipping the other direct downstream tasks');
    expect(await branchDag(() => null).functions.get('pick')!(undefined, ctx)).to.equal(null);

    const bad = branchDag(() => 'unrelated').functions.get('pick')!;
    let error: unknown;
    try {
      await bad(undefined, ctx);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(BranchError);
    expect((error as Error).message).to.equal(
      'branch task "pick" returned unknown task id "unrelated"; a branch may follow only its direct downstream tasks: a, b, grp, grp.inside (or return null to skip them all)',
    );
  });

  it('rejects branch results that are not ids', () => {
    expect(() => branchTargets('p', 42, ['a'])).to.throw(
      BranchError,
      'branch task "p" returned the number 42; expected a task id, a list of task ids, or null to skip every direct downstream task',
    );
    expect(() => branchTargets('p', ['a', 1], ['a'])).to.throw(
      BranchError,
      'branch task "p" returned a list holding the number 1; every entry must be a task id (a string)',
    );
    expect(() => branchTargets('p', 'x', [])).to.throw(
      BranchError,
      'branch task "p" returned unknown task id "x"; a branch may follow only its direct downstream tasks (it has none) (or return null to skip them all)',
    );
    expect(branchTargets('p', undefined, ['a'])).to.deep.equal([]);
  });

  it('records short-circuit (default ignoreDownstreamTriggerRules: true) and latest-only', () => {
    const { spec } = compile((d) => {
      d.chain(
        d.shortCircuit({ taskId: 'sc' }, () => true),
        d.empty({ taskId: 'x' }),
      );
      d.chain(
        d.shortCircuit({ taskId: 'sc2', ignoreDownstreamTriggerRules: false }, () => true),
        d.empty({ taskId: 'y' }),
      );
      d.chain(d.latestOnly({ taskId: 'lo' }), d.empty({ taskId: 'z' }));
    });
    expect([task(spec, 'sc').operator, task(spec, 'sc').control]).to.deep.equal([
      'ShortCircuitOperator',
      { type: 'short_circuit', ignore_downstream_trigger_rules: true },
    ]);
    expect(task(spec, 'sc2').control).to.deep.equal({ type: 'short_circuit', ignore_downstream_trigger_rules: false });
    expect([task(spec, 'lo').kind, task(spec, 'lo').operator, task(spec, 'lo').control]).to.deep.equal([
      'empty',
      'LatestOnlyOperator',
      { type: 'latest_only' },
    ]);
    expect(task(spec, 'x')).to.not.have.property('control');
  });
});

describe('compiler: setup and teardown', () => {
  it('marks setups and teardowns, links setups to their teardown, and fixes the teardown rule', () => {
    const { spec } = compile((d) => {
      const create = d.task({ taskId: 'create' }, noop);
      const other = d.task({ taskId: 'other_setup' }, noop).asSetup();
      const work = d.task({ taskId: 'work' }, noop);
      const del = d.task({ taskId: 'delete' }, noop).asTeardown({ setups: [create, other], onFailureFailDagrun: true });
      d.chain([create, other], work, del);
    });
    expect(task(spec, 'create').is_setup).to.equal(true); // as_teardown(setups=...) marks them
    expect(task(spec, 'other_setup').is_setup).to.equal(true);
    const del = task(spec, 'delete');
    expect([del.is_teardown, del.on_failure_fail_dagrun, del.trigger_rule]).to.deep.equal([
      true,
      true,
      'all_done_setup_success',
    ]);
    expect(del.upstream).to.deep.equal(['create', 'other_setup', 'work']);
    expect(task(spec, 'work')).to.not.have.any.keys('is_setup', 'is_teardown', 'on_failure_fail_dagrun');
  });

  it('rejects a trigger rule on a teardown and a task that is both setup and teardown', () => {
    expectDefinitionError(
      () =>
        compile((d) => {
          d.task({ taskId: 'td', triggerRule: 'all_done' }, noop).asTeardown();
        }),
      'DAG "cf", task "td": triggerRule: the trigger rule of a teardown is all_done_setup_success and cannot be set (got "all_done")',
    );
    expectDefinitionError(
      () =>
        compile((d) => {
          d.task({ taskId: 'both' }, noop).asSetup().asTeardown();
        }),
      'DAG "cf", task "both": asTeardown: a task cannot be both a setup and a teardown',
    );
    expectDefinitionError(
      () =>
        compile((d) => {
          const a = d.task({ taskId: 'a' }, noop).asTeardown();
          d.task({ taskId: 'b' }, noop).asTeardown({ setups: a });
        }),
      'DAG "cf", task "b": setups: asTeardown() names "a" as a setup, but it is a teardown',
    );
  });
});

describe('compiler: callbacks', () => {
  it('records callback flags in the spec and registers the functions under callback keys', async () => {
    const seen: string[] = [];
    const cb =
      (name: string) =>
      (c: CallbackContext): void => {
        seen.push(`${name}:${c.taskId ?? 'dag'}:${c.state}`);
      };
    const { spec, functions } = compile(
      (d) => {
        d.task({ taskId: 'a', onSuccess: cb('task-success'), onSkipped: [cb('s1'), cb('s2')] }, noop);
        d.empty({ taskId: 'b' });
      },
      { defaultArgs: { onFailure: cb('default-failure') }, onSuccess: cb('dag-success') },
    );
    expect(task(spec, 'a').callbacks).to.deep.equal({ on_success: true, on_failure: true, on_skipped: true });
    expect(task(spec, 'b').callbacks).to.deep.equal({ on_failure: true });
    expect(spec.callbacks).to.deep.equal({ on_success: true });
    expect([...functions.keys()].filter((k) => k.startsWith('callback:')).sort()).to.deep.equal(
      [
        callbackKey(null, 'on_success'),
        callbackKey('a', 'on_failure'),
        callbackKey('a', 'on_skipped'),
        callbackKey('a', 'on_success'),
        callbackKey('b', 'on_failure'),
      ].sort(),
    );
    const call = (key: string, c: Partial<CallbackContext>): Promise<void> =>
      (functions.get(key) as unknown as (c: CallbackContext) => Promise<void>)(c as CallbackContext);
    await call(callbackKey('a', 'on_skipped'), { taskId: 'a', state: 'skipped' });
    await call(callbackKey(null, 'on_success'), { taskId: null, state: 'success' });
    expect(seen).to.deep.equal(['s1:a:skipped', 's2:a:skipped', 'dag-success:dag:success']);
  });

  it('runs every callback of a list even when one throws, and reports each failure', async () => {
    const ran: number[] = [];
    const { functions } = compile((d) => {
      d.task(
        {
          taskId: 'a',
          onSuccess: [
            () => {
              ran.push(1);
              throw new Error('first broke');
            },
            () => {
              ran.push(2);
            },
            async () => {
              ran.push(3);
              throw new TypeError('third broke');
            },
          ],
        },
        noop,
      );
    });
    const fn = functions.get(callbackKey('a', 'on_success')) as unknown as (c: CallbackContext) => Promise<void>;
    let error: unknown;
    try {
      await fn({} as CallbackContext);
    } catch (err) {
      error = err;
    }
    expect(ran).to.deep.equal([1, 2, 3]);
    expect(error).to.be.instanceOf(CallbackError);
    expect((error as Error).message).to.equal(
      'callback 1 of 3: Error: first broke; callback 3 of 3: TypeError: third broke',
    );
  });

  it('rejects a callback that is not a function', () => {
    expectDefinitionError(
      () =>
        compile((d) => {
          d.task({ taskId: 'a', onRetry: 'notify' as never }, noop);
        }),
      'DAG "cf", task "a": onRetry: expected a function or an array of functions, got string',
    );
  });

  it('leaves specs without the new features unchanged (no new keys)', () => {
    const { spec } = compile((d) => {
      d.chain(d.task({ taskId: 'a' }, noop), d.empty({ taskId: 'b' }));
    });
    expect(spec).to.not.have.any.keys('callbacks', 'task_groups');
    for (const t of spec.tasks)
      expect(t).to.not.have.any.keys('callbacks', 'control', 'task_group', 'is_setup', 'is_teardown');
  });
});
