/**
 * Fixtures for what an operator sees in the Temporal UI. Each run's conf names a directory `dir`.
 */
import { dag, SkipTask } from '../../../../sdk/index.js';

/**
 * fetch → train (mapped over 3 values; the instance for 2 fails) → report (upstream_failed);
 * skipper (skipped) → after_skip (skipped); wait_flag: a process that sleeps until flag `go`
 * exists in conf.dir, so a test can look at the run while a try runs.
 */
export const ovMixed = dag({ dagId: 'ov_mixed', tags: ['test'] }, (d) => {
  const fetch = d.task({ taskId: 'fetch' }, () => [1, 2, 3]);
  const train = d.task({ taskId: 'train' }, (i: { value: number }): number => {
    if (i.value === 2) throw new Error(`bad input ${i.value}: the loss diverged`);
    return i.value * 10;
  });
  const report = d.task({ taskId: 'report' }, (scores: number[]) => scores.length);
  report(train.expand({ value: fetch() }));
  const skipper = d.task({ taskId: 'skipper' }, (): number => {
    throw new SkipTask('nothing to do today');
  });
  const afterSkip = d.empty({ taskId: 'after_skip' });
  d.chain(skipper, afterSkip);
  d.process({
    taskId: 'wait_flag',
    argv: ['sh', '-c', 'while [ ! -e "$FLAG" ]; do sleep 0.2; done; echo flagged'],
    env: { FLAG: '{{ params.dir }}/go' },
  });
});

/** One task that succeeds. */
export const ovOk = dag({ dagId: 'ov_ok', tags: ['test'] }, (d) => {
  d.task({ taskId: 'hello' }, () => 'hello');
});
