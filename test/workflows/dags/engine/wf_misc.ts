/** Small DAGs: a one-task DAG for trigger tests, and the worker-crash DAG. */
import { dag } from '../../../../sdk/index.js';

export const wfTiny = dag({ dagId: 'wf_tiny', tags: ['test'] }, (d) => {
  d.task({ taskId: 'only' }, () => 'ok');
});

/**
 * The first attempt of `survivor` sleeps long (it is SIGKILLed with its worker and must be killed
 * by the next attempt); the next attempt of the same try sees the marker file and finishes fast.
 */
export const wfWorkerCrash = dag({ dagId: 'wf_worker_crash', tags: ['test'] }, (d) => {
  const setup = d.task({ taskId: 'setup' }, (_: void, ctx) => String(ctx.conf.dir));
  const survivor = d.process<string, void>({
    taskId: 'survivor',
    argv: [
      'sh',
      '-c',
      'dir=$(printf %s "$UPDRAFT_INPUT" | tr -d \'"\'); ' +
        'if [ -e "$dir/first-attempt" ]; then echo "second attempt"; sleep 1; echo second > "$dir/done"; ' +
        'else touch "$dir/first-attempt"; echo "first attempt"; sleep 30; echo first > "$dir/first-done"; fi',
    ],
  });
  const after = d.task({ taskId: 'after' }, () => 'after the crash');
  d.chain(survivor(setup()), after);
});
