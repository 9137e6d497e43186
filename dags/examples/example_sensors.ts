/**
 * Airflow's example_sensors, in Updraft: sensors that wait for a condition by poking it.
 *
 * - `wait_for_time`: a TypeScript check (PythonSensor) that is met two seconds after the run's
 *   logical date and pushes an XCom with how long it waited (PokeReturnValue).
 * - `write_flag` writes a flag file for this run after a short while; `wait_for_flag` (FileSensor,
 *   reschedule mode: it holds no worker slot between pokes) and `check_flag` (a program whose exit
 *   code decides, like BashSensor) wait for it.
 * - `never_true` times out and, with softFail, ends `skipped` instead of `failed`.
 * - `all_done` runs once every sensor has finished without failing (none_failed).
 */
import os from 'node:os';
import path from 'node:path';
import { dag } from '../../sdk/index.js';

const flagDir = path.join(os.tmpdir(), 'updraft-example-sensors');

export default dag(
  {
    dagId: 'example_sensors',
    description: 'Function, file, process and soft-failing sensors',
    tags: ['example', 'sensors'],
  },
  (d) => {
    const waitForTime = d.sensor({ taskId: 'wait_for_time', pokeInterval: 0.5, timeout: 60 }, (_: void, ctx) => {
      const waited = (Date.now() - (ctx.logicalDate?.getTime() ?? Date.now())) / 1000;
      return waited >= 2 ? { done: true, xcom: { waitedSeconds: Math.floor(waited) } } : false;
    });
    const writeFlag = d.process({
      taskId: 'write_flag',
      argv: ['sh', '-c', 'sleep 1 && mkdir -p "$0" && touch "$0/$1.flag"', flagDir, '{{ run_id }}'],
    });
    const waitForFlag = d.fileSensor({
      taskId: 'wait_for_flag',
      filepath: `${flagDir}/{{ run_id }}.flag`,
      mode: 'reschedule',
      pokeInterval: 0.5,
      timeout: 120,
    });
    const checkFlag = d.processSensor({
      taskId: 'check_flag',
      argv: ['sh', '-c', 'test -f "$0/$1.flag"', flagDir, '{{ run_id }}'],
      pokeInterval: 0.5,
      timeout: 120,
    });
    const neverTrue = d.sensor({ taskId: 'never_true', pokeInterval: 0.5, timeout: 2, softFail: true }, () => false);
    const allDone = d.empty({ taskId: 'all_done', triggerRule: 'none_failed' });
    d.chain([waitForTime, writeFlag, waitForFlag, checkFlag, neverTrue], allDone);
  },
);
