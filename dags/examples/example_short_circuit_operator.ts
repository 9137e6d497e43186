/**
 * Airflow's example_short_circuit_decorator: a falsy short-circuit skips everything downstream;
 * with `ignoreDownstreamTriggerRules: false` it skips only its direct downstream tasks and the
 * trigger rules decide the rest (task_7 is all_done and still runs).
 */
import { dag } from '../../sdk/index.js';

export default dag(
  {
    dagId: 'example_short_circuit_operator',
    description: 'Short-circuit downstream tasks on a falsy condition',
    tags: ['example'],
  },
  (d) => {
    const checkCondition = (condition: boolean): boolean => condition;

    const conditionIsTrue = d.shortCircuit({ taskId: 'condition_is_true' }, checkCondition);
    const conditionIsFalse = d.shortCircuit({ taskId: 'condition_is_false' }, checkCondition);
    d.chain(conditionIsTrue(true), d.empty({ taskId: 'true_1' }), d.empty({ taskId: 'true_2' }));
    d.chain(conditionIsFalse(false), d.empty({ taskId: 'false_1' }), d.empty({ taskId: 'false_2' }));

    const [task1, task2, task3, task4, task5, task6] = [1, 2, 3, 4, 5, 6].map((i) => d.empty({ taskId: `task_${i}` }));
    const task7 = d.empty({ taskId: 'task_7', triggerRule: 'all_done' });
    const shortCircuit = d.shortCircuit(
      { taskId: 'short_circuit', ignoreDownstreamTriggerRules: false },
      checkCondition,
    );
    // Airflow: chain(task_1, [task_2, short_circuit], [task_3, task_4], [task_5, task_6], task_7)
    // (equal-length lists pair up element by element).
    d.chain(task1!, [task2!, shortCircuit(false)]);
    d.chain(task2!, task3!, task5!, task7);
    d.chain(shortCircuit, task4!, task6!, task7);
  },
);
