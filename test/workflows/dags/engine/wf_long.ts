/**
 * Long-running process tasks for execution_timeout, cancellation and dagrun_timeout. Every process
 * carries UPDRAFT_RUN_ID in its environment, which is how the tests find survivors.
 */
import { dag } from '../../../../sdk/index.js';

export const wfExecTimeout = dag({ dagId: 'wf_exec_timeout', tags: ['test'] }, (d) => {
  d.process({
    taskId: 'sleepy',
    executionTimeout: '2s',
    argv: ['sh', '-c', 'echo "sleeping"; sleep 60; echo "woke up"'],
  });
});

export const wfCancel = dag({ dagId: 'wf_cancel', tags: ['test'] }, (d) => {
  const first = d.task({ taskId: 'first' }, () => 'started');
  const long = d.process({ taskId: 'long', argv: ['sh', '-c', 'echo "long task running"; sleep 300'] });
  const after = d.empty({ taskId: 'after' });
  d.chain(first, long, after);
});

export const wfDagrunTimeout = dag({ dagId: 'wf_dagrun_timeout', dagrunTimeout: '3s', tags: ['test'] }, (d) => {
  const first = d.task({ taskId: 'first' }, () => 'started');
  const long = d.process({ taskId: 'long', argv: ['sh', '-c', 'echo "long task running"; sleep 300'] });
  const after = d.empty({ taskId: 'after' });
  d.chain(first, long, after);
});
