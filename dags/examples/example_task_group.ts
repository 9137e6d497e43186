/**
 * Airflow's example_task_group: start >> section_1 >> section_2 >> end, where a group stands for
 * its roots downstream of `>>` and for its leaves upstream of it. Task ids are prefixed with the
 * group path (section_2.inner_section_2.task_2), and a group's defaultArgs override the DAG's.
 */
import { dag } from '../../sdk/index.js';

export default dag(
  {
    dagId: 'example_task_group',
    description: 'Nested task groups linked as groups',
    tags: ['example', 'task_group'],
    defaultArgs: { retries: 0 },
  },
  (d) => {
    const start = d.empty({ taskId: 'start' });

    const section1 = d.group({ groupId: 'section_1', tooltip: 'Tasks for section_1' }, (g) => {
      const task1 = g.empty({ taskId: 'task_1' });
      const task2 = g.process({ taskId: 'task_2', argv: ['echo', '1'] });
      const task3 = g.empty({ taskId: 'task_3' });
      g.chain(task1, [task2, task3]);
    });

    const section2 = d.group(
      { groupId: 'section_2', tooltip: 'Tasks for section_2', defaultArgs: { retries: 1, retryDelay: '1s' } },
      (g) => {
        g.empty({ taskId: 'task_1' });
        g.group({ groupId: 'inner_section_2', tooltip: 'Tasks for inner_section2' }, (inner) => {
          const task2 = inner.process({ taskId: 'task_2', argv: ['echo', '1'] });
          const task3 = inner.empty({ taskId: 'task_3' });
          const task4 = inner.empty({ taskId: 'task_4' });
          inner.chain([task2, task3], task4);
        });
      },
    );

    const end = d.empty({ taskId: 'end' });
    d.chain(start, section1, section2, end);
  },
);
