/**
 * Airflow's example_setup_teardown: a setup and a teardown around normal work, at the top level
 * and inside a task group. A teardown runs when its setup succeeded even if the work failed, and a
 * failed teardown does not fail the run (no `onFailureFailDagrun`). Trigger with
 * `--conf '{"fail_work": true}'` to see the group's teardown clean up after a failure.
 */
import { dag, FailTask } from '../../sdk/index.js';

export default dag(
  {
    dagId: 'example_setup_teardown',
    description: 'Setup and teardown tasks, also inside a task group',
    tags: ['example'],
    params: { fail_work: false },
  },
  (d) => {
    const rootSetup = d.process({ taskId: 'root_setup', argv: ['echo', 'Hello from root_setup'] }).asSetup();
    const rootNormal = d.process({ taskId: 'normal', argv: ['echo', 'I am just a normal task'] });
    const rootTeardown = d
      .process({ taskId: 'root_teardown', argv: ['echo', 'Goodbye from root_teardown'] })
      .asTeardown({ setups: rootSetup });
    d.chain(rootSetup, rootNormal, rootTeardown);

    const section1 = d.group({ groupId: 'section_1' }, (g) => {
      const innerSetup = g
        .process({ taskId: 'taskgroup_setup', argv: ['echo', 'Hello from taskgroup_setup'] })
        .asSetup();
      const innerNormal = g.task({ taskId: 'normal' }, (_: void, ctx) => {
        if (ctx.params.fail_work === true) throw new FailTask('asked to fail (fail_work)');
        ctx.log.info('I am just a normal task');
      });
      const innerTeardown = g
        .process({ taskId: 'taskgroup_teardown', argv: ['echo', 'Hello from taskgroup_teardown'] })
        .asTeardown({ setups: innerSetup });
      g.chain(innerSetup, innerNormal, innerTeardown);
    });
    d.chain(rootNormal, section1);
  },
);
