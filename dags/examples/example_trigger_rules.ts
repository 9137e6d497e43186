/**
 * Airflow's example_skip_dag: a task that skips itself and one that succeeds feed a join; with
 * all_success the skip cascades to the join and past it, with one_success the join runs.
 */
import { dag, SkipTask, type DagBuilder, type TriggerRule } from '../../sdk/index.js';

function createTestPipeline(d: DagBuilder, suffix: string, triggerRule: TriggerRule): void {
  const skipOperator = d.task({ taskId: `skip_operator_${suffix}` }, () => {
    throw new SkipTask('always skips');
  });
  const alwaysTrue = d.empty({ taskId: `always_true_${suffix}` });
  const join = d.empty({ taskId: triggerRule, triggerRule });
  const final = d.empty({ taskId: `final_${suffix}` });
  d.chain([skipOperator, alwaysTrue], join, final);
}

export default dag(
  {
    dagId: 'example_trigger_rules',
    description: 'How skips travel through all_success and one_success joins',
    tags: ['example'],
  },
  (d) => {
    createTestPipeline(d, '1', 'all_success');
    createTestPipeline(d, '2', 'one_success');
  },
);
