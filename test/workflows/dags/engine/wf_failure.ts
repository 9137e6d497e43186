/**
 * Failures: an in-process task that throws and a process that exits non-zero; their all_success
 * downstreams become upstream_failed, an all_done downstream still runs.
 */
import { dag } from '../../../../sdk/index.js';

export default dag({ dagId: 'wf_failure', tags: ['test'] }, (d) => {
  const ok = d.task({ taskId: 'ok' }, () => 'fine');
  const explode = d.task({ taskId: 'explode' }, (): string => {
    throw new Error('boom: the answer was 41, not 42');
  });
  const afterExplode = d.task({ taskId: 'after_explode' }, () => 'never runs');
  const cleanup = d.task({ taskId: 'cleanup', triggerRule: 'all_done' }, (_: void, ctx) => {
    ctx.log.info('cleaning up after a failure');
    return 'cleaned';
  });
  const crash = d.process({
    taskId: 'crash',
    argv: ['sh', '-c', 'echo "about to fail"; echo "disk on fire" >&2; exit 7'],
  });
  const afterCrash = d.empty({ taskId: 'after_crash' });

  d.chain(ok, explode, [afterExplode, cleanup]);
  d.chain(crash, afterCrash);
});
