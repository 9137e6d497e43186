/**
 * Airflow's example_latest_only_with_trigger: `latest_only` skips task1 unless the run is the
 * latest scheduled run (manual runs are never skipped); task3 (all_success) follows the skip,
 * task4 (all_done) runs anyway, and task2 does not depend on latest_only at all.
 */
import { dag } from '../../sdk/index.js';

export default dag(
  {
    dagId: 'example_latest_only',
    description: 'Skip work for runs that are not the latest scheduled interval',
    schedule: '@hourly',
    startDate: '2025-01-01',
    catchup: false,
    tags: ['example', 'example3'],
  },
  (d) => {
    const latestOnly = d.latestOnly({ taskId: 'latest_only' });
    const task1 = d.empty({ taskId: 'task1' });
    const task2 = d.empty({ taskId: 'task2' });
    const task3 = d.empty({ taskId: 'task3' });
    const task4 = d.empty({ taskId: 'task4', triggerRule: 'all_done' });
    d.chain(latestOnly, task1, [task3, task4]);
    d.chain(task2, [task3, task4]);
  },
);
