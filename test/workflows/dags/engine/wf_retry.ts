/**
 * Retries with Airflow's exponential backoff: `flaky` fails twice then succeeds (a counter file in
 * the directory the run's conf names), `hopeless` fails every try.
 */
import { dag } from '../../../../sdk/index.js';

export default dag({ dagId: 'wf_retry', tags: ['test'] }, (d) => {
  const setup = d.task({ taskId: 'setup' }, (_: void, ctx) => String(ctx.conf.dir));
  const flaky = d.process<string, void>({
    taskId: 'flaky',
    retries: 2,
    retryDelay: '1s',
    retryExponentialBackoff: true,
    argv: [
      'sh',
      '-c',
      'dir=$(printf %s "$UPDRAFT_INPUT" | tr -d \'"\'); n=$(cat "$dir/count" 2>/dev/null || echo 0); n=$((n + 1)); ' +
        'echo "$n" > "$dir/count"; echo "flaky run $n (try $UPDRAFT_TRY_NUMBER)"; ' +
        'if [ "$n" -lt 3 ]; then echo "flaky failure $n" >&2; exit 1; fi',
    ],
  });
  const hopeless = d.process({
    taskId: 'hopeless',
    retries: 1,
    retryDelay: '1s',
    argv: ['sh', '-c', 'echo "hopeless try $UPDRAFT_TRY_NUMBER"; exit 3'],
  });
  flaky(setup());
  d.chain(setup, hopeless);
});
