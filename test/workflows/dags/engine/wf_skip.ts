/**
 * Skips: SkipTask from a function and SKIP_EXIT_CODE (99) from a process; all_success downstreams
 * are skipped; none_failed_min_one_success joins run when one upstream succeeded and are skipped
 * when every upstream was skipped.
 */
import { dag, SkipTask } from '../../../../sdk/index.js';

export default dag({ dagId: 'wf_skip', tags: ['test'] }, (d) => {
  const start = d.task({ taskId: 'start' }, () => 1);
  const skipper = d.task({ taskId: 'skipper' }, (): number => {
    throw new SkipTask('nothing to do today');
  });
  const afterSkip = d.task({ taskId: 'after_skip' }, () => 'never runs');
  const ran = d.task({ taskId: 'ran' }, () => 'ran');
  const joinMixed = d.task({ taskId: 'join_mixed', triggerRule: 'none_failed_min_one_success' }, () => 'joined');
  const joinAllSkipped = d.empty({ taskId: 'join_all_skipped', triggerRule: 'none_failed_min_one_success' });
  const skipProc = d.process({ taskId: 'skip_proc', argv: ['sh', '-c', 'echo "skipping by exit code"; exit 99'] });
  const afterSkipProc = d.empty({ taskId: 'after_skip_proc' });

  d.chain(start, [skipper, ran]);
  d.chain(skipper, afterSkip);
  d.chain([afterSkip, ran], joinMixed);
  d.chain([skipper, afterSkip], joinAllSkipped);
  d.chain(skipProc, afterSkipProc);
});
