import { expect } from 'chai';
import { SemanticsInputError, evaluateTriggerRule, normalizeTriggerRule } from '../../engine/index.js';
import type { TriggerDecision, TriggerRuleOptions, UpstreamCounts } from '../../engine/index.js';
import { TRIGGER_RULES, TriggerRule } from '../../spec/trigger-rule.js';

type Expected = TriggerDecision['decision'];

interface Counts {
  success?: number;
  skipped?: number;
  failed?: number;
  upstream_failed?: number;
  removed?: number;
  done?: number;
  total: number;
}

/** `done` defaults to the sum of the finished states, as the workflow computes it. */
function counts(c: Counts): UpstreamCounts {
  const success = c.success ?? 0;
  const skipped = c.skipped ?? 0;
  const failed = c.failed ?? 0;
  const upstream_failed = c.upstream_failed ?? 0;
  const removed = c.removed ?? 0;
  return {
    success,
    skipped,
    failed,
    upstream_failed,
    removed,
    done: c.done ?? success + skipped + failed + upstream_failed + removed,
    total: c.total,
  };
}

interface Case {
  name: string;
  rule: string;
  counts: Counts;
  opts?: TriggerRuleOptions;
  expected: Expected;
}

function run(cases: readonly Case[]): void {
  for (const c of cases) {
    it(`${c.rule}: ${c.name} -> ${c.expected}`, () => {
      expect(evaluateTriggerRule(c.rule, counts(c.counts), c.opts).decision).to.equal(c.expected);
    });
  }
}

const setupCounts = (total: number, success: number, skipped: number): UpstreamCounts =>
  counts({ total, success, skipped, done: success + skipped });

describe('semantics/trigger-rules', () => {
  /**
   * Ported from airflow-core/tests/unit/ti_deps/deps/test_trigger_rule_dep.py with
   * flag_upstream_failed=True (the scheduler's mode): expected SKIPPED/UPSTREAM_FAILED become
   * skip/upstream_failed; "no state, failing reason" becomes wait; "no status" becomes run.
   * Airflow's fixture leaves upstream=0 when a test passes no normal_tasks (it calls
   * _evaluate_trigger_rule directly, past the "no upstream" check), which makes upstream_done
   * true; we use total=done for those cases, which keeps upstream_done true the same way.
   */
  describe('Airflow TestTriggerRuleDep cases', () => {
    it('test_no_upstream_tasks: a task with no upstream runs', () => {
      expect(evaluateTriggerRule('all_done', counts({ total: 0 }))).to.deep.equal({ decision: 'run' });
    });
    it('test_always_tr: always passes with an unfinished upstream', () => {
      expect(evaluateTriggerRule('always', counts({ total: 1 }))).to.deep.equal({ decision: 'run' });
    });
    run([
      {
        name: 'test_one_success_tr_success',
        rule: 'one_success',
        counts: { success: 1, skipped: 2, failed: 3, upstream_failed: 2, done: 2, total: 2 },
        expected: 'skip',
      },
      {
        name: 'test_one_success_tr_failure',
        rule: 'one_success',
        counts: { skipped: 1, failed: 1, removed: 1, upstream_failed: 1, done: 4, total: 4 },
        expected: 'upstream_failed',
      },
      {
        name: 'test_one_success_tr_failure_all_skipped',
        rule: 'one_success',
        counts: { skipped: 2, done: 2, total: 2 },
        expected: 'skip',
      },
      {
        name: 'test_one_failure_tr_failure',
        rule: 'one_failed',
        counts: { success: 2, done: 2, total: 2 },
        expected: 'skip',
      },
      {
        name: 'test_one_failure_tr_success',
        rule: 'one_failed',
        counts: { skipped: 2, failed: 2, done: 2, total: 2 },
        expected: 'run',
      },
      {
        name: 'test_one_failure_tr_success_no_failed',
        rule: 'one_failed',
        counts: { skipped: 2, upstream_failed: 2, done: 2, total: 2 },
        expected: 'run',
      },
      {
        name: 'test_one_done_tr_success',
        rule: 'one_done',
        counts: { success: 2, done: 2, total: 2 },
        expected: 'run',
      },
      {
        name: 'test_one_done_tr_success_with_failed',
        rule: 'one_done',
        counts: { failed: 2, done: 2, total: 2 },
        expected: 'run',
      },
      { name: 'test_one_done_tr_skip', rule: 'one_done', counts: { skipped: 2, done: 2, total: 2 }, expected: 'skip' },
      {
        name: 'test_one_done_tr_upstream_failed',
        rule: 'one_done',
        counts: { upstream_failed: 2, done: 2, total: 2 },
        expected: 'skip',
      },
      { name: 'test_all_success_tr_success', rule: 'all_success', counts: { success: 1, total: 1 }, expected: 'run' },
      {
        name: 'test_all_success_tr_failure',
        rule: 'all_success',
        counts: { success: 1, failed: 1, total: 2 },
        expected: 'upstream_failed',
      },
      {
        name: 'test_all_success_tr_skip',
        rule: 'all_success',
        counts: { success: 1, skipped: 1, total: 2 },
        expected: 'skip',
      },
      {
        name: 'test_none_failed_tr_success',
        rule: 'none_failed',
        counts: { success: 1, skipped: 1, total: 2 },
        expected: 'run',
      },
      {
        name: 'test_none_failed_tr_failure',
        rule: 'none_failed',
        counts: { success: 1, skipped: 1, failed: 1, total: 3 },
        expected: 'upstream_failed',
      },
      {
        name: 'test_none_failed_tr_failure_with_upstream_failure',
        rule: 'none_failed',
        counts: { success: 1, skipped: 1, upstream_failed: 1, total: 3 },
        expected: 'upstream_failed',
      },
      {
        name: 'test_none_failed_min_one_success_tr_success',
        rule: 'none_failed_min_one_success',
        counts: { success: 1, skipped: 1, total: 2 },
        expected: 'run',
      },
      {
        name: 'test_none_failed_min_one_success_tr_skipped',
        rule: 'none_failed_min_one_success',
        counts: { skipped: 2, total: 2 },
        expected: 'skip',
      },
      {
        name: 'test_none_failed_min_one_success_tr_failure',
        rule: 'none_failed_min_one_success',
        counts: { success: 1, skipped: 1, failed: 1, total: 3 },
        expected: 'upstream_failed',
      },
      {
        name: 'test_none_failed_min_one_success_tr_upstream_failure',
        rule: 'none_failed_min_one_success',
        counts: { success: 1, skipped: 1, upstream_failed: 1, total: 3 },
        expected: 'upstream_failed',
      },
      { name: 'test_all_failed_tr_success', rule: 'all_failed', counts: { failed: 2, total: 2 }, expected: 'run' },
      { name: 'test_all_failed_tr_failure', rule: 'all_failed', counts: { success: 2, total: 2 }, expected: 'skip' },
      { name: 'test_all_done_tr_success', rule: 'all_done', counts: { success: 2, total: 2 }, expected: 'run' },
      {
        name: 'test_all_done_tr_failure (one upstream unfinished)',
        rule: 'all_done',
        counts: { success: 1, total: 2 },
        expected: 'wait',
      },
      { name: 'test_all_skipped_tr_failure', rule: 'all_skipped', counts: { success: 1, total: 1 }, expected: 'skip' },
      {
        name: 'test_all_skipped_tr_failure_upstream_failed',
        rule: 'all_skipped',
        counts: { upstream_failed: 1, total: 1 },
        expected: 'skip',
      },
      { name: 'test_all_skipped_tr_success', rule: 'all_skipped', counts: { skipped: 3, total: 3 }, expected: 'run' },
      {
        name: 'test_none_skipped_tr_success',
        rule: 'none_skipped',
        counts: { success: 2, failed: 1, total: 3 },
        expected: 'run',
      },
      {
        name: 'test_none_skipped_tr_failure',
        rule: 'none_skipped',
        counts: { success: 1, skipped: 1, total: 2 },
        expected: 'skip',
      },
      { name: 'test_none_skipped_tr_failure_empty', rule: 'none_skipped', counts: { total: 1 }, expected: 'wait' },
      // Airflow 3: op1 >> (op2, op3) >> op4; (op2, op3, op4) >> op5(one_failed); op2 failed.
      {
        name: 'test_UpstreamTIStates op5',
        rule: 'one_failed',
        counts: { success: 2, failed: 1, total: 3 },
        expected: 'run',
      },
      {
        name: 'test_UpstreamTIStates op4',
        rule: 'all_success',
        counts: { success: 1, failed: 1, total: 2 },
        expected: 'upstream_failed',
      },
      // Mapped upstream do_something[0..4] with indexes 3 and 4 removed (evaluated with flag=False
      // there, where the dep passes; we never produce Airflow's REMOVED state for the mapped TI).
      {
        name: 'test_mapped_task_upstream_removed_with_all_success_trigger_rules',
        rule: 'all_success',
        counts: { success: 3, removed: 2, total: 5 },
        expected: 'run',
      },
      {
        name: 'test_mapped_task_upstream_removed_with_all_failed_trigger_rules',
        rule: 'all_failed',
        counts: { failed: 3, removed: 2, total: 5 },
        expected: 'run',
      },
      {
        name: 'test_mapped_task_upstream_removed_with_none_failed_trigger_rules',
        rule: 'none_failed',
        counts: { success: 3, removed: 2, total: 5 },
        expected: 'run',
      },
      {
        name: 'test_mapped_task_upstream_removed_with_none_failed_trigger_rules (min one)',
        rule: 'none_failed_min_one_success',
        counts: { success: 3, removed: 2, total: 5 },
        expected: 'run',
      },
    ]);

    it('test_unknown_tr: an unknown rule is rejected with the field named', () => {
      expect(() => evaluateTriggerRule('Unknown Trigger Rule', counts({ success: 1, total: 1 })))
        .to.throw(SemanticsInputError)
        .with.property(
          'message',
          'trigger_rule: expected one of all_success, all_failed, all_done, all_done_min_one_success, ' +
            'all_done_setup_success, one_success, one_failed, one_done, none_failed, ' +
            'none_failed_min_one_success, none_skipped, all_skipped, always ' +
            '(or a 2.x alias: dummy, none_failed_or_skipped), got "Unknown Trigger Rule"',
        );
    });
  });

  describe('Airflow test_teardown_tr_not_all_done (all_done_setup_success)', () => {
    // [id, work upstreams, setup upstreams, counts over all direct upstreams, setup success, setup skipped, expected]
    const table: ReadonlyArray<[string, number, number, Omit<Counts, 'total'>, number, number, Expected]> = [
      ['no setups', 2, 0, { success: 2, done: 2 }, 0, 0, 'run'],
      ['setup not done', 2, 1, { success: 2, done: 2 }, 0, 0, 'wait'],
      ['setup failed', 2, 1, { success: 2, done: 3 }, 0, 0, 'upstream_failed'],
      ['one setup failed one success', 2, 2, { success: 2, done: 4 }, 1, 0, 'run'],
      ['one setup success one running', 2, 2, { success: 2, done: 3 }, 1, 0, 'wait'],
      ['setup failed (failed=1)', 2, 1, { success: 2, done: 3, failed: 1 }, 0, 0, 'upstream_failed'],
      ['one setup failed one skipped', 2, 2, { success: 2, done: 4, failed: 1 }, 0, 1, 'upstream_failed'],
      ['two setups both skipped', 2, 2, { success: 2, done: 4 }, 0, 2, 'skip'],
      ['all success', 2, 1, { success: 3, done: 3 }, 1, 0, 'run'],
      ['work failed', 2, 1, { success: 1, done: 3 }, 1, 0, 'run'],
      ['one setup; skipped', 2, 1, { success: 2, done: 3 }, 0, 1, 'skip'],
    ];
    for (const [id, work, setups, c, setupSuccess, setupSkipped, expected] of table) {
      it(`${id} -> ${expected}`, () => {
        const opts: TriggerRuleOptions = {
          isTeardown: true,
          setupCounts: setupCounts(setups, setupSuccess, setupSkipped),
        };
        const decision = evaluateTriggerRule('all_done_setup_success', counts({ ...c, total: work + setups }), opts);
        expect(decision.decision).to.equal(expected);
      });
    }

    it('without setupCounts behaves like all_done', () => {
      expect(evaluateTriggerRule('all_done_setup_success', counts({ failed: 2, total: 2 })).decision).to.equal('run');
      expect(evaluateTriggerRule('all_done_setup_success', counts({ failed: 1, total: 2 })).decision).to.equal('wait');
    });
  });

  describe('Airflow TestTriggerRuleDepSetupConstraint (indirect setups in scope)', () => {
    // t1 (setup) >> t2 >> t3: t2 has a direct setup, t3 an indirect one.
    for (const [setupState, expected] of [
      ['none', 'wait'],
      ['failed', 'upstream_failed'],
      ['skipped', 'skip'],
    ] as const) {
      it(`test_setup_constraint_changes_state_appropriately: setup ${setupState} -> t2 and t3 ${expected}`, () => {
        const setup = counts({
          total: 1,
          failed: setupState === 'failed' ? 1 : 0,
          skipped: setupState === 'skipped' ? 1 : 0,
        });
        // t2: all_success on its direct setup.
        expect(evaluateTriggerRule('all_success', setup).decision).to.equal(expected);
        // t3: its direct upstream t2 has not run; the indirect setup decides.
        const t3 = evaluateTriggerRule('all_success', counts({ total: 1 }), { indirectSetupCounts: setup });
        expect(t3.decision).to.equal(expected);
      });
    }

    it('test_setup_constraint_will_fail_or_skip_fast: one failed setup fails the scope without waiting', () => {
      // [s1 running, s2 failed] >> w1 >> w2
      const setups = counts({ total: 2, failed: 1 });
      expect(evaluateTriggerRule('all_success', setups).decision).to.equal('upstream_failed');
      expect(
        evaluateTriggerRule('all_success', counts({ total: 1 }), { indirectSetupCounts: setups }).decision,
      ).to.equal('upstream_failed');
      const skipped = counts({ total: 2, skipped: 1 });
      expect(
        evaluateTriggerRule('all_success', counts({ total: 1 }), { indirectSetupCounts: skipped }).decision,
      ).to.equal('skip');
    });

    it('test_setup_constraint_wait_for_past_depends_before_skipping: a skipped setup skips even all_done', () => {
      const setups = counts({ total: 2, success: 1, skipped: 1 });
      expect(
        evaluateTriggerRule('all_done', counts({ total: 1, success: 1 }), { indirectSetupCounts: setups }).decision,
      ).to.equal('skip');
    });

    run([
      {
        name: 'direct upstreams done but a setup in scope still running',
        rule: 'all_success',
        counts: { success: 1, total: 1 },
        opts: { indirectSetupCounts: counts({ total: 2, success: 1 }) },
        expected: 'wait',
      },
      {
        name: 'all setups in scope succeeded',
        rule: 'all_success',
        counts: { success: 1, total: 1 },
        opts: { indirectSetupCounts: counts({ total: 2, success: 2 }) },
        expected: 'run',
      },
      {
        name: 'a direct failure wins over a pending setup',
        rule: 'all_success',
        counts: { failed: 1, total: 1 },
        opts: { indirectSetupCounts: counts({ total: 1 }) },
        expected: 'upstream_failed',
      },
      {
        name: 'teardowns ignore indirect setups',
        rule: 'all_done_setup_success',
        counts: { success: 1, total: 1 },
        opts: { isTeardown: true, indirectSetupCounts: counts({ total: 1, failed: 1 }) },
        expected: 'run',
      },
      {
        name: 'removed setups in scope are not waited for',
        rule: 'all_success',
        counts: { success: 1, total: 1 },
        opts: { indirectSetupCounts: counts({ total: 3, success: 2, removed: 1 }) },
        expected: 'run',
      },
      {
        name: 'always ignores setups in scope',
        rule: 'always',
        counts: { total: 1 },
        opts: { indirectSetupCounts: counts({ total: 1, failed: 1 }) },
        expected: 'run',
      },
    ]);
  });

  describe('fast decisions: skip/upstream_failed/run without waiting for the other upstreams', () => {
    run([
      {
        name: 'fails fast on one failure with 2 upstreams pending',
        rule: 'all_success',
        counts: { failed: 1, total: 3 },
        expected: 'upstream_failed',
      },
      {
        name: 'fails fast on one upstream_failed',
        rule: 'all_success',
        counts: { upstream_failed: 1, success: 1, total: 3 },
        expected: 'upstream_failed',
      },
      { name: 'skips fast on one skip', rule: 'all_success', counts: { skipped: 1, total: 3 }, expected: 'skip' },
      {
        name: 'failure wins over skip',
        rule: 'all_success',
        counts: { skipped: 1, failed: 1, total: 3 },
        expected: 'upstream_failed',
      },
      {
        name: 'waits while upstreams succeed',
        rule: 'all_success',
        counts: { success: 2, total: 3 },
        expected: 'wait',
      },
      { name: 'skips on first success', rule: 'all_failed', counts: { success: 1, total: 3 }, expected: 'skip' },
      {
        name: 'skips on first skip',
        rule: 'all_failed',
        counts: { skipped: 1, failed: 1, total: 3 },
        expected: 'skip',
      },
      {
        name: 'upstream_failed counts as failed',
        rule: 'all_failed',
        counts: { failed: 1, upstream_failed: 2, total: 3 },
        expected: 'run',
      },
      {
        name: 'waits while failures accumulate',
        rule: 'all_failed',
        counts: { failed: 2, total: 3 },
        expected: 'wait',
      },
      {
        name: 'runs when all done whatever the states',
        rule: 'all_done',
        counts: { failed: 1, skipped: 1, upstream_failed: 1, total: 3 },
        expected: 'run',
      },
      { name: 'waits for the last upstream', rule: 'all_done', counts: { failed: 2, total: 3 }, expected: 'wait' },
      { name: 'runs on first success', rule: 'one_success', counts: { success: 1, total: 3 }, expected: 'run' },
      {
        name: 'waits with failures while upstreams are pending',
        rule: 'one_success',
        counts: { failed: 2, total: 3 },
        expected: 'wait',
      },
      {
        name: 'upstream_failed when all done and none succeeded',
        rule: 'one_success',
        counts: { failed: 2, skipped: 1, total: 3 },
        expected: 'upstream_failed',
      },
      { name: 'runs on first failure', rule: 'one_failed', counts: { failed: 1, total: 3 }, expected: 'run' },
      {
        name: 'runs on first upstream_failed',
        rule: 'one_failed',
        counts: { upstream_failed: 1, total: 3 },
        expected: 'run',
      },
      {
        name: 'waits on successes while pending',
        rule: 'one_failed',
        counts: { success: 2, total: 3 },
        expected: 'wait',
      },
      { name: 'runs on first success', rule: 'one_done', counts: { success: 1, total: 3 }, expected: 'run' },
      { name: 'runs on first failure', rule: 'one_done', counts: { failed: 1, total: 3 }, expected: 'run' },
      { name: 'waits on skips while pending', rule: 'one_done', counts: { skipped: 2, total: 3 }, expected: 'wait' },
      { name: 'fails fast', rule: 'none_failed', counts: { failed: 1, total: 3 }, expected: 'upstream_failed' },
      { name: 'all skipped still runs', rule: 'none_failed', counts: { skipped: 3, total: 3 }, expected: 'run' },
      {
        name: 'waits while pending',
        rule: 'none_failed',
        counts: { success: 1, skipped: 1, total: 3 },
        expected: 'wait',
      },
      {
        name: 'branch join: one path skipped, other succeeded',
        rule: 'none_failed_min_one_success',
        counts: { success: 1, skipped: 1, total: 2 },
        expected: 'run',
      },
      {
        name: 'all skipped skips',
        rule: 'none_failed_min_one_success',
        counts: { skipped: 3, total: 3 },
        expected: 'skip',
      },
      {
        name: 'waits while pending',
        rule: 'none_failed_min_one_success',
        counts: { skipped: 2, total: 3 },
        expected: 'wait',
      },
      { name: 'skips fast', rule: 'none_skipped', counts: { skipped: 1, total: 3 }, expected: 'skip' },
      {
        name: 'failures are fine once done',
        rule: 'none_skipped',
        counts: { failed: 2, upstream_failed: 1, total: 3 },
        expected: 'run',
      },
      { name: 'waits while pending', rule: 'none_skipped', counts: { success: 2, total: 3 }, expected: 'wait' },
      { name: 'skips fast on a success', rule: 'all_skipped', counts: { success: 1, total: 3 }, expected: 'skip' },
      { name: 'waits while skips accumulate', rule: 'all_skipped', counts: { skipped: 2, total: 3 }, expected: 'wait' },
      {
        name: 'skips as soon as any upstream skipped (per the code)',
        rule: 'all_done_min_one_success',
        counts: { skipped: 1, total: 3 },
        expected: 'skip',
      },
      {
        name: 'runs when all done with a success',
        rule: 'all_done_min_one_success',
        counts: { success: 1, failed: 2, total: 3 },
        expected: 'run',
      },
      {
        name: 'upstream_failed when all done without success',
        rule: 'all_done_min_one_success',
        counts: { failed: 2, upstream_failed: 1, total: 3 },
        expected: 'upstream_failed',
      },
      {
        name: 'waits with a success but pending upstreams',
        rule: 'all_done_min_one_success',
        counts: { success: 1, total: 3 },
        expected: 'wait',
      },
      { name: 'runs with nothing finished', rule: 'always', counts: { total: 3 }, expected: 'run' },
      { name: 'runs after failures', rule: 'always', counts: { failed: 3, total: 3 }, expected: 'run' },
    ]);
  });

  describe('removed upstreams are subtracted from the counts', () => {
    run([
      {
        name: 'removed do not block',
        rule: 'all_success',
        counts: { success: 2, removed: 1, total: 3 },
        expected: 'run',
      },
      {
        name: 'removed do not count as done for pending',
        rule: 'all_done',
        counts: { removed: 1, success: 1, total: 3 },
        expected: 'wait',
      },
      {
        name: 'all but removed skipped',
        rule: 'one_success',
        counts: { skipped: 2, removed: 1, total: 3 },
        expected: 'skip',
      },
      {
        name: 'all but removed skipped',
        rule: 'none_failed_min_one_success',
        counts: { skipped: 2, removed: 1, total: 3 },
        expected: 'skip',
      },
      {
        name: 'all but removed skipped',
        rule: 'all_skipped',
        counts: { skipped: 2, removed: 1, total: 3 },
        expected: 'run',
      },
      {
        name: 'all but removed failed',
        rule: 'all_failed',
        counts: { failed: 2, removed: 1, total: 3 },
        expected: 'run',
      },
      {
        name: 'all but removed done, no success',
        rule: 'all_done_min_one_success',
        counts: { failed: 2, removed: 1, total: 3 },
        expected: 'upstream_failed',
      },
      { name: 'every upstream removed', rule: 'all_success', counts: { removed: 2, total: 2 }, expected: 'run' },
    ]);
  });

  describe('2.x aliases', () => {
    it('normalizes dummy to always and none_failed_or_skipped to none_failed_min_one_success', () => {
      expect(normalizeTriggerRule('dummy')).to.equal(TriggerRule.ALWAYS);
      expect(normalizeTriggerRule('none_failed_or_skipped')).to.equal(TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS);
      expect(normalizeTriggerRule('all_success')).to.equal(TriggerRule.ALL_SUCCESS);
    });
    run([
      { name: 'alias of always', rule: 'dummy', counts: { failed: 1, total: 2 }, expected: 'run' },
      {
        name: 'alias: all skipped',
        rule: 'none_failed_or_skipped',
        counts: { skipped: 2, total: 2 },
        expected: 'skip',
      },
      {
        name: 'alias: failure',
        rule: 'none_failed_or_skipped',
        counts: { failed: 1, total: 2 },
        expected: 'upstream_failed',
      },
      {
        name: 'alias: join',
        rule: 'none_failed_or_skipped',
        counts: { success: 1, skipped: 1, total: 2 },
        expected: 'run',
      },
    ]);
    it('does not resolve Object.prototype names', () => {
      expect(() => evaluateTriggerRule('constructor', counts({ total: 1 }))).to.throw(SemanticsInputError);
      expect(() => evaluateTriggerRule('toString', counts({ total: 1 }))).to.throw(SemanticsInputError);
    });
  });

  describe('reasons name the counts', () => {
    const table: ReadonlyArray<[string, Counts, TriggerDecision]> = [
      [
        'all_success',
        { failed: 1, total: 3 },
        {
          decision: 'upstream_failed',
          reason: 'upstream task failed: 1 of 3 upstreams failed (trigger_rule=all_success)',
        },
      ],
      [
        'all_success',
        { upstream_failed: 2, total: 3 },
        {
          decision: 'upstream_failed',
          reason: 'upstream task failed: 2 of 3 upstreams were upstream_failed (trigger_rule=all_success)',
        },
      ],
      [
        'none_failed',
        { failed: 1, upstream_failed: 1, total: 3 },
        {
          decision: 'upstream_failed',
          reason:
            'upstream task failed: 2 of 3 upstreams failed (failed=1, upstream_failed=1) (trigger_rule=none_failed)',
        },
      ],
      [
        'all_success',
        { skipped: 1, success: 1, total: 2 },
        { decision: 'skip', reason: 'upstream task skipped: 1 of 2 upstreams skipped (trigger_rule=all_success)' },
      ],
      [
        'all_failed',
        { success: 1, skipped: 1, total: 3 },
        {
          decision: 'skip',
          reason:
            'upstream task did not fail: 2 of 3 upstreams succeeded or skipped (success=1, skipped=1) (trigger_rule=all_failed)',
        },
      ],
      [
        'one_success',
        { skipped: 2, total: 2 },
        { decision: 'skip', reason: 'all upstream tasks skipped: 2 of 2 upstreams skipped (trigger_rule=one_success)' },
      ],
      [
        'one_success',
        { failed: 1, skipped: 1, total: 2 },
        {
          decision: 'upstream_failed',
          reason:
            'no upstream task succeeded: 0 of 2 upstreams succeeded (failed=1, upstream_failed=0, skipped=1) (trigger_rule=one_success)',
        },
      ],
      [
        'one_failed',
        { success: 2, total: 2 },
        { decision: 'skip', reason: 'no upstream task failed: 0 of 2 upstreams failed (trigger_rule=one_failed)' },
      ],
      [
        'one_done',
        { skipped: 1, upstream_failed: 1, total: 2 },
        {
          decision: 'skip',
          reason:
            'no upstream task succeeded or failed: 0 of 2 upstreams succeeded or failed (skipped=1, upstream_failed=1) (trigger_rule=one_done)',
        },
      ],
      [
        'none_failed_min_one_success',
        { skipped: 2, total: 2 },
        {
          decision: 'skip',
          reason: 'all upstream tasks skipped: 2 of 2 upstreams skipped (trigger_rule=none_failed_min_one_success)',
        },
      ],
      [
        'none_skipped',
        { skipped: 1, total: 2 },
        { decision: 'skip', reason: 'upstream task skipped: 1 of 2 upstreams skipped (trigger_rule=none_skipped)' },
      ],
      [
        'all_skipped',
        { success: 1, failed: 1, total: 3 },
        {
          decision: 'skip',
          reason:
            'upstream task not skipped: 2 of 3 upstreams succeeded or failed (success=1, failed=1, upstream_failed=0) (trigger_rule=all_skipped)',
        },
      ],
      [
        'all_done_min_one_success',
        { failed: 2, total: 2 },
        {
          decision: 'upstream_failed',
          reason:
            'no upstream task succeeded: all 2 upstreams done, 0 succeeded (trigger_rule=all_done_min_one_success)',
        },
      ],
      [
        'none_failed_or_skipped',
        { skipped: 2, total: 2 },
        {
          decision: 'skip',
          reason: 'all upstream tasks skipped: 2 of 2 upstreams skipped (trigger_rule=none_failed_min_one_success)',
        },
      ],
    ];
    for (const [rule, c, expected] of table) {
      it(`${rule} ${JSON.stringify(c)}`, () => {
        expect(evaluateTriggerRule(rule, counts(c))).to.deep.equal(expected);
      });
    }

    it('setup reasons', () => {
      expect(
        evaluateTriggerRule('all_done_setup_success', counts({ success: 1, done: 2, total: 2 }), {
          setupCounts: setupCounts(1, 0, 0),
        }),
      ).to.deep.equal({
        decision: 'upstream_failed',
        reason: 'no setup task succeeded: 0 of 1 direct setups succeeded (trigger_rule=all_done_setup_success)',
      });
      expect(
        evaluateTriggerRule('all_done_setup_success', counts({ skipped: 2, total: 2 }), {
          setupCounts: setupCounts(2, 0, 2),
        }),
      ).to.deep.equal({
        decision: 'skip',
        reason: 'all setup tasks skipped: 2 of 2 direct setups skipped (trigger_rule=all_done_setup_success)',
      });
      expect(
        evaluateTriggerRule('all_success', counts({ total: 1 }), {
          indirectSetupCounts: counts({ total: 2, failed: 1 }),
        }),
      ).to.deep.equal({
        decision: 'upstream_failed',
        reason: 'setup task failed: 1 of 2 setups in scope failed (trigger_rule=all_success)',
      });
      expect(
        evaluateTriggerRule('all_success', counts({ total: 1 }), {
          indirectSetupCounts: counts({ total: 2, skipped: 1 }),
        }),
      ).to.deep.equal({
        decision: 'skip',
        reason: 'setup task skipped: 1 of 2 setups in scope skipped (trigger_rule=all_success)',
      });
    });
  });

  /**
   * Every combination of finished upstream states for 1..3 upstreams, against a line-by-line
   * Python transcription of trigger_rule_dep.py `_evaluate_direct_relatives` (flag_upstream_failed
   * branch, then the pass check; removed = 0). One letter per combination in the enumeration order
   * below: R = run, W = wait, S = skip, U = upstream_failed.
   */
  describe('exhaustive table from Airflow trigger_rule_dep.py (1..3 upstreams)', () => {
    const airflow: Readonly<Record<string, string>> = {
      all_success: 'WUUSRWUUUUUSUUSWUUSRWUUUUUUUUUSUUUUUSUUSWUUUUUSUUSWUUSR',
      all_failed: 'WRRSSWWRWRRSSSSSSSSSWWWRWWRWRRSSSSSSSSSSSSSSSSSSSSSSSSS',
      all_done: 'WRRRRWWRWRRWRRRWRRRRWWWRWWRWRRWWRWRRWRRRWWRWRRWRRRWRRRR',
      all_done_min_one_success: 'WUUSRWWUWUUSSSSWRRSRWWWUWWUWUUSSSSSSSSSSWWRWRRSSSSWRRSR',
      one_success: 'WUUSRWWUWUUWUUSRRRRRWWWUWWUWUUWWUWUUWUUSRRRRRRRRRRRRRRR',
      one_failed: 'WRRSSWRRRRRWRRSWRRSSWRRRRRRRRRWRRRRRWRRSWRRRRRWRRSWRRSS',
      one_done: 'WSRSRWWSRRRWSRSRRRRRWWWSRRRRRRWWSRRRWSRSRRRRRRRRRRRRRRR',
      none_failed: 'WUURRWUUUUUWUURWUURRWUUUUUUUUUWUUUUUWUURWUUUUUWUURWUURR',
      none_failed_min_one_success: 'WUUSRWUUUUUWUUSWUURRWUUUUUUUUUWUUUUUWUUSWUUUUUWUURWUURR',
      none_skipped: 'WRRSRWWRWRRSSSSWRRSRWWWRWWRWRRSSSSSSSSSSWWRWRRSSSSWRRSR',
      all_skipped: 'WSSRSWSSSSSWSSRSSSSSWSSSSSSSSSWSSSSSWSSRSSSSSSSSSSSSSSS',
    };
    const letter: Record<Expected, string> = { run: 'R', wait: 'W', skip: 'S', upstream_failed: 'U' };
    // Same nesting as the generator: total, then success, skipped, failed, upstream_failed.
    const combos: UpstreamCounts[] = [];
    for (let total = 1; total <= 3; total++) {
      for (let s = 0; s <= total; s++) {
        for (let k = 0; k <= total - s; k++) {
          for (let f = 0; f <= total - s - k; f++) {
            for (let uf = 0; uf <= total - s - k - f; uf++) {
              combos.push(counts({ total, success: s, skipped: k, failed: f, upstream_failed: uf }));
            }
          }
        }
      }
    }

    it('enumerates the 55 combinations the generator did', () => {
      expect(combos).to.have.length(55);
    });

    for (const [rule, expected] of Object.entries(airflow)) {
      it(rule, () => {
        const actual = combos.map((c) => letter[evaluateTriggerRule(rule, c).decision]).join('');
        expect(actual).to.equal(expected);
      });
    }

    it('covers every rule except always and all_done_setup_success (tested above)', () => {
      const covered = new Set([...Object.keys(airflow), 'always', 'all_done_setup_success']);
      expect([...TRIGGER_RULES].sort()).to.deep.equal([...covered].sort());
    });
  });

  it('returns shared objects for run and wait (no allocation on the hot path)', () => {
    const a = evaluateTriggerRule('all_success', counts({ success: 1, total: 1 }));
    const b = evaluateTriggerRule('one_success', counts({ success: 1, total: 2 }));
    expect(a).to.equal(b);
    expect(Object.isFrozen(a)).to.equal(true);
    const w1 = evaluateTriggerRule('all_success', counts({ total: 2 }));
    const w2 = evaluateTriggerRule('all_done', counts({ total: 2 }));
    expect(w1).to.equal(w2);
  });
});
