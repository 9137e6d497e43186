/**
 * Every control-flow command the interpreter issues, in one run, for the recorded replay history
 * (test/replay/record-control-flow.ts): a setup and teardown around a task group holding a branch
 * and a join, a falsy short-circuit, a latest-only check (local activity), and task and DAG-run
 * callbacks (runCallback activities).
 */
import { dag, type CallbackContext } from '../../../../sdk/index.js';

const note = (c: CallbackContext): void => c.log.info(`${c.callback} ${c.state}`);

export default dag({ dagId: 'cf_replay', tags: ['test'], onSuccess: note }, (d) => {
  const setup = d.task({ taskId: 'setup' }, () => 'ready').asSetup();
  const work = d.group({ groupId: 'work' }, (g) => {
    const pick = g.branch({ taskId: 'pick', onExecute: note, onSuccess: note }, () => 'work.left');
    const join = g.empty({ taskId: 'join', triggerRule: 'none_failed_min_one_success' });
    g.chain(pick, [g.empty({ taskId: 'left' }), g.empty({ taskId: 'right' })], join);
  });
  const teardown = d.task({ taskId: 'teardown' }, () => 'cleaned').asTeardown({ setups: setup });
  d.chain(setup, work, teardown);
  d.chain(
    d.shortCircuit({ taskId: 'gate' }, () => false),
    d.empty({ taskId: 'gated' }),
  );
  d.chain(d.latestOnly({ taskId: 'latest_only' }), d.empty({ taskId: 'after_latest' }));
});
