/**
 * Sensors on the real stack: a function sensor in poke and in reschedule mode (met on its third
 * poke), a file sensor on a glob (templated from params.dir), a process sensor (exit 0 met with an
 * XCom, 99 skip, 98 fail), sensors that time out (failed without retries, in both modes) or
 * soft-fail (skipped), and ExternalTaskSensors on another DAG's task and run.
 */
import { dag } from '../../../../sdk/index.js';
import type { TaskContext } from '../../../../sdk/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Pokes so far, per run and task (the worker runs in the test's process; runs are unique). */
const pokes = new Map<string, number>();
function poke(ctx: TaskContext): number {
  const key = `${ctx.runId}/${ctx.taskId}`;
  const n = (pokes.get(key) ?? 0) + 1;
  pokes.set(key, n);
  return n;
}

export const pokeMode = dag({ dagId: 'wf_sensor_poke', tags: ['test'] }, (d) => {
  const wait = d.sensor({ taskId: 'wait', pokeInterval: 0.2, timeout: 60 }, (_: void, ctx) => {
    const n = poke(ctx);
    return n >= 3 ? { done: true, xcom: { pokes: n, try: ctx.tryNumber } } : false;
  });
  const use = d.task({ taskId: 'use' }, (x: { pokes: number; try: number }) => x);
  use(wait());
});

export const rescheduleMode = dag({ dagId: 'wf_sensor_reschedule', tags: ['test'] }, (d) => {
  d.sensor({ taskId: 'wait', mode: 'reschedule', pokeInterval: 0.6, timeout: 60 }, (_: void, ctx) => {
    const n = poke(ctx);
    return n >= 3 ? { done: true, xcom: { pokes: n, try: ctx.tryNumber } } : false;
  });
});

export const fileSensor = dag({ dagId: 'wf_sensor_file', tags: ['test'], params: { dir: '/nonexistent' } }, (d) => {
  d.fileSensor({ taskId: 'wait_file', filepath: '{{ params.dir }}/in/*.ready', pokeInterval: 0.2, timeout: 60 });
});

export const processSensor = dag(
  { dagId: 'wf_sensor_process', tags: ['test'], params: { dir: '/nonexistent' } },
  (d) => {
    d.processSensor({
      taskId: 'wait_flag',
      argv: [
        'sh',
        '-c',
        'test -f "$0/flag" || exit 1; echo \'{"seen": true}\' > "$UPDRAFT_XCOM_DIR/return.json"',
        '{{ params.dir }}',
      ],
      pokeInterval: 0.2,
      timeout: 60,
    });
    d.processSensor({ taskId: 'skip_me', argv: ['sh', '-c', 'exit 99'], pokeInterval: 0.2 });
    d.processSensor({
      taskId: 'fail_me',
      argv: ['sh', '-c', 'echo giving up; exit 98'],
      pokeInterval: 0.2,
      retries: 2,
      retryDelay: 1,
    });
  },
);

export const timeouts = dag({ dagId: 'wf_sensor_timeout', tags: ['test'] }, (d) => {
  d.sensor({ taskId: 'never', pokeInterval: 0.3, timeout: 1, retries: 2, retryDelay: 1 }, () => false);
  d.sensor(
    { taskId: 'never_rescheduled', mode: 'reschedule', pokeInterval: 0.4, timeout: 1.5, retries: 2, retryDelay: 1 },
    () => false,
  );
});

export const softFail = dag({ dagId: 'wf_sensor_soft_fail', tags: ['test'] }, (d) => {
  const soft = d.sensor({ taskId: 'soft', pokeInterval: 0.3, timeout: 1, softFail: true }, () => false);
  const after = d.empty({ taskId: 'after' });
  d.chain(soft, after);
});

export const upstream = dag({ dagId: 'wf_sensor_upstream', tags: ['test'] }, (d) => {
  d.task({ taskId: 'produce' }, () => sleep(1500));
});

export const external = dag({ dagId: 'wf_sensor_external', tags: ['test'] }, (d) => {
  d.externalTaskSensor({
    taskId: 'wait_task',
    externalDagId: 'wf_sensor_upstream',
    externalTaskId: 'produce',
    pokeInterval: 0.3,
    timeout: 60,
  });
  d.externalTaskSensor({
    taskId: 'wait_run',
    externalDagId: 'wf_sensor_upstream',
    mode: 'reschedule',
    pokeInterval: 0.3,
    timeout: 60,
  });
});

/** Pokes per run of the silent_fail sensor (the check throws on its first two). */
const silentPokes = new Map<string, number>();

export const failModes = dag({ dagId: 'wf_sensor_fail_modes', tags: ['test'] }, (d) => {
  const never = d.sensor({ taskId: 'never_fail', pokeInterval: 0.2, timeout: 30, neverFail: true }, () => {
    throw new Error('the backend is down');
  });
  const afterNever = d.empty({ taskId: 'after_never' });
  d.chain(never, afterNever);
  d.sensor({ taskId: 'silent_fail', pokeInterval: 0.2, timeout: 30, silentFail: true }, (_: void, ctx) => {
    const n = (silentPokes.get(ctx.runId) ?? 0) + 1;
    silentPokes.set(ctx.runId, n);
    if (n <= 2) throw new Error(`poke ${n} could not reach the backend`);
    return true;
  });
});
