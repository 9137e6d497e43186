/**
 * SkipTask / FailTask from in-process and process tasks, each with retries left: a skip ends the
 * task as skipped on try 1 and a FailTask (exit 98) fails it on try 1 without using its retries,
 * while a plain error with a retry left is retried. Callbacks on them show which fire.
 */
import { dag, FailTask, SkipTask, type CallbackContext } from '../../../../sdk/index.js';

const note = (c: CallbackContext): void =>
  c.log.info(`${c.callback} fired: state=${c.state} try=${c.tryNumber} exception=${c.exception ?? '-'}`);
const callbacks = { onSuccess: note, onFailure: note, onRetry: note, onSkipped: note };

export default dag(
  { dagId: 'cf_skip_fail', tags: ['test'], defaultArgs: { retries: 3, retryDelay: '1s', ...callbacks } },
  (d) => {
    d.task({ taskId: 'fn_skip' }, (): number => {
      throw new SkipTask('nothing to do');
    });
    d.task({ taskId: 'fn_fail' }, (): number => {
      throw new FailTask('bad input, retrying will not help');
    });
    d.process({ taskId: 'proc_skip', argv: ['sh', '-c', 'echo skipping; exit 99'] });
    d.process({ taskId: 'proc_fail', argv: ['sh', '-c', 'echo failing for good; exit 98'] });
    d.task({ taskId: 'fn_retry', retries: 1 }, (_: void, ctx) => {
      if (ctx.tryNumber === 1) throw new Error('transient');
      return ctx.tryNumber;
    });
  },
);
