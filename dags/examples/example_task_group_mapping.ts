/**
 * Airflow's example_task_group_mapping: a task group mapped over [1, 2, 3]; inside each instance
 * `add_one` then `add_two` run on the instance's value (add_two waits only for its own add_one),
 * and `print_results` receives the group's results as one list: [4, 5, 6].
 */
import { dag } from '../../sdk/index.js';

export default dag(
  { dagId: 'example_task_group_mapping', description: 'Map a whole task group over a list', tags: ['example'] },
  (d) => {
    const group = d.mappedGroup({ groupId: 'my_task_group', expand: { value: [1, 2, 3] } }, (g, args) => {
      const one = g.task({ taskId: 'add_one' }, (i: { value: number }) => i.value + 1)({ value: args.value });
      return g.task({ taskId: 'add_two' }, (n: number) => n + 2)(one);
    });
    d.task({ taskId: 'print_results' }, (values: number[], ctx) => {
      ctx.log.info(`results: ${JSON.stringify(values)}`);
      return values;
    })(group.result);
  },
);
