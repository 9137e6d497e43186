/**
 * Cross-run rules on the real stack: pools shared by concurrent runs, priority order for a scarce
 * slot, max_active_tasks and max_active_tis_per_dag across runs, depends_on_past, an unknown pool.
 * Tasks sleep so that overlaps (or their absence) show in the recorded start and end times.
 */
import { dag } from '../../../../sdk/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Two tasks in a pool of one slot: two concurrent runs must take turns (4 tries, no overlap). */
export const serial = dag({ dagId: 'wf_pool_serial', tags: ['test'] }, (d) => {
  d.task({ taskId: 'a', pool: 'serial_pool' }, () => sleep(700));
  d.task({ taskId: 'b', pool: 'serial_pool' }, () => sleep(700));
});

/**
 * One slot, three ready tasks of different weights: `holder` takes the slot first, `start` makes
 * low/mid/high ready while it holds it, and they then run highest weight first.
 */
export const priority = dag(
  { dagId: 'wf_pool_priority', tags: ['test'], defaultArgs: { weightRule: 'absolute' } },
  (d) => {
    d.task({ taskId: 'holder', pool: 'prio_pool', priorityWeight: 100 }, () => sleep(3000));
    const start = d.task({ taskId: 'start' }, () => sleep(300));
    const low = d.task({ taskId: 'low', pool: 'prio_pool', priorityWeight: 1 }, () => sleep(200));
    const mid = d.task({ taskId: 'mid', pool: 'prio_pool', priorityWeight: 5 }, () => sleep(200));
    const high = d.task({ taskId: 'high', pool: 'prio_pool', priorityWeight: 10 }, () => sleep(200));
    d.chain(start, [low, mid, high]);
  },
);

/** max_active_tasks = 1 counts across runs (and across pools). */
export const maxActiveTasks = dag({ dagId: 'wf_max_active_tasks', tags: ['test'], maxActiveTasks: 1 }, (d) => {
  d.task({ taskId: 'a' }, () => sleep(600));
  d.task({ taskId: 'b', pool: 'side_pool' }, () => sleep(600));
});

/** max_active_tis_per_dag = 1 on `limited` only; `free` may overlap itself across runs. */
export const maxTis = dag({ dagId: 'wf_max_tis', tags: ['test'] }, (d) => {
  d.task({ taskId: 'limited', maxActiveTisPerDag: 1 }, () => sleep(1000));
  d.task({ taskId: 'free' }, () => sleep(1000));
});

/** depends_on_past: a run's `step` waits for `step` of the previous run to succeed. */
export const dependsOnPast = dag({ dagId: 'wf_depends_on_past', tags: ['test'] }, (d) => {
  d.task({ taskId: 'step', dependsOnPast: true }, () => sleep(2500));
});

/** A pool nobody created: the try fails at once, without its retries. */
export const unknownPool = dag({ dagId: 'wf_unknown_pool', tags: ['test'] }, (d) => {
  d.task({ taskId: 'lost', pool: 'no_such_pool', retries: 2, retryDelay: 1 }, () => 1);
});
