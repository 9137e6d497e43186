/**
 * Airflow's example_dynamic_task_mapping: `add_one` is mapped over a literal list (one instance
 * per item, map_index 0..2) and `sum_it` receives the collected results in map_index order.
 * The second DAG maps over a list an upstream task returns, with fixed arguments (partial) and a
 * cross product of two keys, and fans the results into one task.
 */
import { dag } from '../../sdk/index.js';

export default dag(
  {
    dagId: 'example_dynamic_task_mapping',
    description: 'Map a task over a list and sum the results',
    tags: ['example'],
  },
  (d) => {
    const addOne = d.task({ taskId: 'add_one' }, (i: { x: number }) => i.x + 1);
    const sumIt = d.task({ taskId: 'sum_it' }, (values: number[], ctx) => {
      const total = values.reduce((a, b) => a + b, 0);
      ctx.log.info(`Total was ${total}`);
      return total;
    });
    sumIt(addOne.expand({ x: [1, 2, 3] }));
  },
);

export const upstreamMapping = dag(
  {
    dagId: 'example_task_mapping_upstream',
    description: 'Map over an upstream result, with partial() and a cross product',
    tags: ['example'],
  },
  (d) => {
    const getNums = d.task({ taskId: 'get_nums' }, () => [1, 2, 3]);
    const scale = d.task(
      { taskId: 'scale' },
      (i: { num: number; factor: number; offset: number }) => i.num * i.factor + i.offset,
    );
    const report = d.task({ taskId: 'report' }, (values: number[]) => ({ values, count: values.length }));
    report(scale.partial({ offset: 10 }).expand({ num: getNums(), factor: [1, 2] }));
  },
);
