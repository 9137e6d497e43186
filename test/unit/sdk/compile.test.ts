import { expect } from 'chai';
import { compileDag, hashSpec } from '../../../sdk/compile.js';
import { dag } from '../../../sdk/dag.js';
import { DagDefinitionError } from '../../../sdk/errors.js';
import type { TaskSpec } from '../../../spec/dag-spec.js';

function task(spec: { tasks: TaskSpec[] }, id: string): TaskSpec {
  const t = spec.tasks.find((x) => x.task_id === id);
  if (!t) throw new Error(`no task ${id}`);
  return t;
}

function expectDefinitionError(fn: () => unknown, message: string): DagDefinitionError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(DagDefinitionError);
    expect((err as Error).message).to.equal(message);
    return err as DagDefinitionError;
  }
  throw new Error(`expected DagDefinitionError: ${message}`);
}

describe('compileDag', () => {
  const etl = dag(
    { dagId: 'etl', tags: ['x'], defaultArgs: { retries: 2, retryDelay: '30s', owner: 'data' }, dagrunTimeout: '1h' },
    (d) => {
      const extract = d.task({ taskId: 'extract' }, () => ({ rows: 3, source: 'db' }));
      const transform = d.task({ taskId: 'transform', retries: 0 }, (x: { rows: number }) => x.rows * 2);
      const report = d.process<{ n: number; src: string }, void>({
        taskId: 'report',
        argv: ['echo', 'hi'],
        env: { A: '1' },
      });
      const done = d.empty({ taskId: 'done', triggerRule: 'all_done' });
      const e = extract();
      const t = transform(e);
      report({ n: t, src: e.get('source') });
      d.chain(report, done);
    },
  );

  it('emits snake_case Airflow fields, merged defaults and data + control edges', () => {
    const { spec, functions } = compileDag(etl, 'etl.ts');
    expect(spec.spec_version).to.equal(1);
    expect(spec.dag_id).to.equal('etl');
    expect(spec.fileloc).to.equal('etl.ts');
    expect(spec.dagrun_timeout).to.equal(3600);
    expect(spec.tasks.map((t) => t.task_id)).to.deep.equal(['extract', 'transform', 'report', 'done']);
    const transform = task(spec, 'transform');
    expect(transform.retries).to.equal(0); // task option wins over defaultArgs
    expect(transform.retry_delay).to.equal(30);
    expect(transform.owner).to.equal('data');
    expect(transform.upstream).to.deep.equal(['extract']);
    expect(transform.input).to.deep.equal({ $xcom: { task_id: 'extract', key: 'return_value', path: [] } });
    const report = task(spec, 'report');
    expect(report.upstream).to.deep.equal(['extract', 'transform']);
    expect(report.input).to.deep.equal({
      n: { $xcom: { task_id: 'transform', key: 'return_value', path: [] } },
      src: { $xcom: { task_id: 'extract', key: 'return_value', path: ['source'] } },
    });
    expect(report.process).to.deep.equal({ argv: ['echo', 'hi'], env: { A: '1' }, cwd: null, shell: false });
    expect(report.operator).to.equal('ProcessOperator');
    expect(task(spec, 'done').trigger_rule).to.equal('all_done');
    expect(task(spec, 'done').upstream).to.deep.equal(['report']);
    expect(task(spec, 'extract').downstream).to.deep.equal(['report', 'transform']);
    expect([...functions.keys()].sort()).to.deep.equal(['extract', 'transform']);
  });

  it('hashes the canonical spec: stable across compiles, different when the DAG changes', () => {
    const a = compileDag(etl, 'etl.ts').spec;
    const b = compileDag(etl, 'etl.ts').spec;
    expect(a.hash).to.match(/^[0-9a-f]{40}$/);
    expect(a.hash).to.equal(b.hash);
    expect(hashSpec(a)).to.equal(a.hash);
    const changed = compileDag(
      dag({ dagId: 'etl' }, (d) => void d.empty({ taskId: 'x' })),
      'etl.ts',
    ).spec;
    expect(changed.hash).to.not.equal(a.hash);
  });

  it('accepts all 13 trigger rules and the 2.x aliases', () => {
    const rules = [
      'all_success',
      'all_failed',
      'all_done',
      'all_done_min_one_success',
      'all_done_setup_success',
      'one_success',
      'one_failed',
      'one_done',
      'none_failed',
      'none_failed_min_one_success',
      'none_skipped',
      'all_skipped',
      'always',
    ] as const;
    const { spec } = compileDag(
      dag({ dagId: 'rules' }, (d) => {
        for (const r of rules) d.empty({ taskId: r, triggerRule: r });
        d.empty({ taskId: 'dummy', triggerRule: 'dummy' });
        d.empty({ taskId: 'legacy', triggerRule: 'none_failed_or_skipped' });
      }),
      'rules.ts',
    );
    for (const r of rules) expect(task(spec, r).trigger_rule).to.equal(r);
    expect(task(spec, 'dummy').trigger_rule).to.equal('always');
    expect(task(spec, 'legacy').trigger_rule).to.equal('none_failed_min_one_success');
  });

  it('orders tasks topologically with ties broken by task id', () => {
    const { spec } = compileDag(
      dag({ dagId: 'order' }, (d) => {
        const z = d.empty({ taskId: 'z' });
        const a = d.empty({ taskId: 'a' });
        const m = d.empty({ taskId: 'm' });
        d.chain(z, m);
        d.chain(a, m);
      }),
      'o.ts',
    );
    expect(spec.tasks.map((t) => t.task_id)).to.deep.equal(['a', 'z', 'm']);
  });

  describe('errors name the DAG, the task and the field', () => {
    it('prints the cycle', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'cyc' }, (d) => {
              const a = d.empty({ taskId: 'a' });
              const b = d.empty({ taskId: 'b' });
              const c = d.empty({ taskId: 'c' });
              d.chain(a, b, c, a);
            }),
            'cyc.ts',
          ),
        'DAG "cyc": the graph has a cycle: a -> b -> c -> a',
      );
    });

    it('rejects neverFail together with softFail, and keeps unset sensor flags out of the spec', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'nf' }, (d) => {
              d.sensor({ taskId: 's', neverFail: true, softFail: true }, () => true);
            }),
            'nf.ts',
          ),
        'DAG "nf", task "s": neverFail: neverFail and softFail cannot both be set (Airflow makes them mutually exclusive)',
      );
      const spec = compileDag(
        dag({ dagId: 'sf' }, (d) => {
          d.sensor({ taskId: 'plain' }, () => true);
          d.sensor({ taskId: 'silent', silentFail: true }, () => true);
        }),
        'sf.ts',
      ).spec;
      expect(spec.tasks.find((t) => t.task_id === 'plain')!.sensor).to.not.have.any.keys('never_fail', 'silent_fail');
      expect(spec.tasks.find((t) => t.task_id === 'silent')!.sensor).to.include({ silent_fail: true });
    });

    it('rejects duplicate task ids', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'dup' }, (d) => {
              d.empty({ taskId: 'a' });
              d.empty({ taskId: 'a' });
            }),
            'dup.ts',
          ),
        'DAG "dup", task "a": taskId: duplicate task_id "a" (task ids must be unique within a DAG)',
      );
    });

    it("rejects ids outside Airflow's charset", () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'bad id' }, () => undefined),
            'b.ts',
          ),
        "DAG in b.ts: dag_id \"bad id\" may contain only ASCII letters, digits, '-', '.' and '_'",
      );
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'ok' }, (d) => void d.empty({ taskId: 'no/slash' })),
            'b.ts',
          ),
        'DAG "ok", task "no/slash": taskId: task_id "no/slash" may contain only ASCII letters, digits, \'-\', \'.\' and \'_\'',
      );
    });

    it('rejects references to tasks of another DAG', () => {
      let foreign: unknown;
      const other = dag({ dagId: 'other' }, (d) => {
        foreign = d.task({ taskId: 'x' }, () => 1)();
      });
      compileDag(other, 'other.ts');
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'mine' }, (d) => {
              d.task({ taskId: 'y' }, (_n: number) => 2)(foreign as never);
            }),
            'mine.ts',
          ),
        'DAG "mine", task "y": input: input references task "x" of another DAG',
      );
    });

    it('rejects unknown tasks in chain()', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'ch' }, (d) => {
              d.chain(d.empty({ taskId: 'a' }), { taskId: 'ghost' });
            }),
            'ch.ts',
          ),
        'DAG "ch": chain: chain() references unknown task "ghost"',
      );
    });

    it('rejects bad durations', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'dur' }, (d) => void d.empty({ taskId: 'a', retryDelay: '5 fortnights' })),
            'd.ts',
          ),
        'DAG "dur", task "a": retryDelay: unknown unit \'fortnights\' in duration \'5 fortnights\' (use ms, s, m, h, d or w)',
      );
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'dur', dagrunTimeout: 'soon' }, () => undefined),
            'd.ts',
          ),
        "DAG \"dur\": dagrunTimeout: expected a duration like '30s', '5 minutes' or '2h', got 'soon'",
      );
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'dur' }, (d) => void d.empty({ taskId: 'a', executionTimeout: -1 })),
            'd.ts',
          ),
        'DAG "dur", task "a": executionTimeout: expected a non-negative number of seconds, got -1',
      );
    });

    it('rejects unknown trigger rules, bad retries and bad process argv', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'tr' }, (d) => void d.empty({ taskId: 'a', triggerRule: 'sometimes' as never })),
            't.ts',
          ),
        'DAG "tr", task "a": triggerRule: unknown trigger rule "sometimes" (expected one of Airflow\'s 13 rules, e.g. all_success, all_done, none_failed_min_one_success)',
      );
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'tr' }, (d) => void d.empty({ taskId: 'a', retries: 1.5 })),
            't.ts',
          ),
        'DAG "tr", task "a": retries: expected a non-negative integer, got 1.5',
      );
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'tr' }, (d) => void d.process({ taskId: 'p', argv: [] })),
            't.ts',
          ),
        'DAG "tr", task "p": argv: expected a non-empty array of strings (program and arguments)',
      );
    });

    it('rejects inputs that are not JSON', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'js' }, (d) => {
              d.task({ taskId: 'a' }, (_x: { when: Date }) => 1)({ when: new Date() });
            }),
            'j.ts',
          ),
        'DAG "js", task "a": input: input.when is a Date; task inputs must be JSON (or XCom references)',
      );
    });

    it('rejects a task called twice', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'twice' }, (d) => {
              const a = d.task({ taskId: 'a' }, () => 1);
              a();
              a();
            }),
            't.ts',
          ),
        'DAG "twice", task "a": task "a" is called twice; each call would be a separate task, so declare another task with its own taskId',
      );
    });

    it('wraps an exception thrown by the builder', () => {
      expectDefinitionError(
        () =>
          compileDag(
            dag({ dagId: 'boom' }, () => {
              throw new Error('kaput');
            }),
            'b.ts',
          ),
        'DAG "boom": the DAG builder threw: kaput',
      );
    });
  });
});
