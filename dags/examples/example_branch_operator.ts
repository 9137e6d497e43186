/**
 * Airflow's example_branch_operator: `branching` picks one of four branches; the other three are
 * skipped, and `join` (none_failed_min_one_success) runs after the branch that ran. Airflow picks
 * at random; here the choice is the `branch` param, so a run can ask for one with
 * `updraft dags trigger example_branch_operator --conf '{"branch": "branch_c"}'`.
 */
import { dag } from '../../sdk/index.js';

const OPTIONS = ['branch_a', 'branch_b', 'branch_c', 'branch_d'];

export default dag(
  {
    dagId: 'example_branch_operator',
    description: 'Follow one of four branches and join after it',
    tags: ['example', 'example2'],
    params: { branch: 'branch_a' },
  },
  (d) => {
    const runThisFirst = d.empty({ taskId: 'run_this_first' });
    const branching = d.branch({ taskId: 'branching' }, (_: void, ctx) => {
      const choice = String(ctx.params.branch);
      ctx.log.info(`choosing ${choice} of ${OPTIONS.join(', ')}`);
      return choice;
    });
    const join = d.empty({ taskId: 'join', triggerRule: 'none_failed_min_one_success' });
    d.chain(runThisFirst, branching);
    for (const option of OPTIONS) {
      const t = d.empty({ taskId: option });
      const follow = d.empty({ taskId: `follow_${option}` });
      d.chain(branching, t, follow, join);
    }
  },
);
