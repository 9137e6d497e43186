/**
 * Callbacks that succeed, that throw, and that must not fire. Task callbacks log through ctx.log
 * (the try's log); DAG-run callbacks append to a file in conf.dir. A throwing callback is logged
 * and changes no state: `boom_cb` stays success, `fails` stays failed, the run stays failed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { dag, FailTask, SkipTask, type CallbackContext } from '../../../../sdk/index.js';

const note = (c: CallbackContext): void => c.log.info(`${c.callback}: ${c.taskId} ${c.state} try ${c.tryNumber}`);
const record = (c: CallbackContext): void => {
  fs.appendFileSync(
    path.join(String(c.conf.dir), 'dag-callbacks.txt'),
    `${c.callback} ${c.state} ${c.exception ?? '-'} ${c.runId}\n`,
  );
};

export default dag(
  {
    dagId: 'cf_callbacks',
    tags: ['test'],
    onSuccess: record,
    onFailure: [
      record,
      () => {
        throw new Error('DAG callback broke');
      },
    ],
  },
  (d) => {
    d.task({ taskId: 'ok', onExecute: note, onSuccess: note }, () => 1);
    d.task(
      { taskId: 'retry_then_ok', retries: 1, retryDelay: '1s', onRetry: note, onSuccess: note, onFailure: note },
      (_: void, ctx) => {
        if (ctx.tryNumber === 1) throw new Error('first try fails');
        return 2;
      },
    );
    d.task({ taskId: 'skip_me', onSkipped: note }, (): number => {
      throw new SkipTask('skipping myself');
    });
    const pick = d.branch({ taskId: 'pick' }, () => 'chosen');
    d.chain(pick, [d.empty({ taskId: 'chosen' }), d.empty({ taskId: 'not_chosen', onSkipped: note })]);
    d.task(
      {
        taskId: 'boom_cb',
        onSuccess: () => {
          throw new TypeError('callback exploded');
        },
      },
      () => 'fine',
    );
    d.task(
      {
        taskId: 'fails',
        retries: 2,
        onFailure: async () => {
          throw new Error('failure callback exploded too');
        },
      },
      (): number => {
        throw new FailTask('giving up');
      },
    );
  },
);
