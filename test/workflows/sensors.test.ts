/// <reference types="mocha" />
/**
 * Sensors end to end (Temporal dev server, worker, PGlite): poke mode loops inside one try;
 * reschedule mode ends each poke as `up_for_reschedule` in Postgres and pokes again with the SAME
 * try number (task_reschedule rows, one history row); a file sensor is met by a file created
 * mid-wait; an ExternalTaskSensor waits for another DAG's task and run at the same logical date;
 * a process sensor's exit code decides (0 met with an XCom, 99 skip, 98 fail without retries);
 * a timeout fails without retries in both modes (counted from the first start), soft_fail skips.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { triggerDagRun } from '../../client/trigger.js';
import { listReschedules } from '../../db/cross-run.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { finishRun, historyOf, readRun, runDag, startRun, statesOf, ti, uniqueRunId, waitFor } from './helpers.js';

const DAGS = path.resolve(__dirname, '../../../test/workflows/dags/sensors');

describe('sensors', function () {
  let stack: TestStack;

  before(async function () {
    this.timeout(120_000);
    stack = await startTestStack({ dagsFolder: DAGS, db: 'pglite' });
    expect(stack.bag.importErrors, 'fixture DAG import errors').to.deep.equal([]);
  });

  after(async function () {
    this.timeout(60_000);
    await stack?.stop();
  });

  const log = async (dagId: string, runId: string, taskId: string, tryNumber = 1): Promise<string[]> =>
    (
      await readTaskLog(stack.database.db, {
        dag_id: dagId,
        run_id: runId,
        task_id: taskId,
        map_index: -1,
        try_number: tryNumber,
      })
    ).map((l) => l.line);

  it('poke mode: pokes inside one try until the function says done, and pushes its XCom', async function () {
    const { result, tis, history, triggered } = await runDag(stack, 'wf_sensor_poke');
    expect(result.state).to.equal('success');
    expect(statesOf(tis)).to.deep.equal({ wait: ['success', 1], use: ['success', 1] });
    expect(ti(tis, 'wait').operator).to.equal('TypeScriptSensor');
    expect(historyOf(history, 'wait').map((h) => [h.try_number, h.state])).to.deep.equal([[1, 'success']]);
    expect(
      await getXCom(stack.database.db, {
        dag_id: 'wf_sensor_poke',
        run_id: triggered.runId,
        task_id: 'use',
        map_index: -1,
        key: 'return_value',
      }),
    ).to.deep.equal({ pokes: 3, try: 1 });
    const lines = await log('wf_sensor_poke', triggered.runId, 'wait');
    expect(lines).to.include.members([
      'poke 1: the check returned false; next poke in 0.2s',
      'poke 2: the check returned false; next poke in 0.2s',
      'sensor condition met: the check returned done: true',
    ]);
  });

  it('reschedule mode: up_for_reschedule between pokes, the same try number, no slot held', async function () {
    const triggered = await startRun(stack, 'wf_sensor_reschedule');
    const seen = await waitFor(
      'wait to be up_for_reschedule',
      async () => {
        const { tis } = await readRun(stack, 'wf_sensor_reschedule', triggered.runId);
        const w = tis.get('wait');
        return w?.state === 'up_for_reschedule' ? w : undefined;
      },
      15_000,
      50,
    );
    expect(seen.try_number).to.equal(1);
    // Between pokes the try holds no pool slot.
    const grants = await stack.database.db
      .selectFrom('task_slot_grant')
      .selectAll()
      .where('run_id', '=', triggered.runId)
      .execute();
    expect(grants).to.deep.equal([]);

    const { result, tis, history } = await finishRun(stack, triggered);
    expect(result.state).to.equal('success');
    expect(statesOf(tis)).to.deep.equal({ wait: ['success', 1] });
    expect(historyOf(history, 'wait').map((h) => [h.try_number, h.state])).to.deep.equal([[1, 'success']]);
    const reschedules = await listReschedules(stack.database.db, {
      dag_id: 'wf_sensor_reschedule',
      run_id: triggered.runId,
      task_id: 'wait',
      map_index: -1,
    });
    expect(reschedules.map((r) => r.try_number)).to.deep.equal([1, 1]);
    // Each reschedule waited its poke interval before the next poke.
    expect(reschedules[1]!.start_date.getTime() - reschedules[0]!.start_date.getTime()).to.be.at.least(600);
    expect(
      await getXCom(stack.database.db, {
        dag_id: 'wf_sensor_reschedule',
        run_id: triggered.runId,
        task_id: 'wait',
        map_index: -1,
        key: 'return_value',
      }),
    ).to.deep.equal({ pokes: 3, try: 1 });
    expect(await log('wf_sensor_reschedule', triggered.runId, 'wait')).to.include(
      'wait try 1: up_for_reschedule, next poke in 0.6s',
    );
  });

  it('file sensor: met by a file created mid-wait (glob, path templated from params)', async function () {
    const dir = tempDir('file-sensor');
    const triggered = await startRun(stack, 'wf_sensor_file', { conf: { dir } });
    await waitFor(
      'a poke that found nothing',
      async () =>
        (await log('wf_sensor_file', triggered.runId, 'wait_file')).some((l) =>
          l.startsWith(`poke 1: no file matches ${dir}/in/*.ready yet`),
        ),
      15_000,
    );
    fs.mkdirSync(path.join(dir, 'in'));
    fs.writeFileSync(path.join(dir, 'in', 'not-it.txt'), 'x');
    await new Promise((r) => setTimeout(r, 500));
    expect((await readRun(stack, 'wf_sensor_file', triggered.runId)).tis.get('wait_file')?.state).to.equal('running');
    fs.writeFileSync(path.join(dir, 'in', 'batch-7.ready'), 'x');
    const { result, tis } = await finishRun(stack, triggered);
    expect(result.state).to.equal('success');
    expect(statesOf(tis)).to.deep.equal({ wait_file: ['success', 1] });
    expect(ti(tis, 'wait_file').operator).to.equal('FileSensor');
    expect(await log('wf_sensor_file', triggered.runId, 'wait_file')).to.include(
      `sensor condition met: found ${dir}/in/batch-7.ready`,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('process sensor: exit 0 is met (with its XCom), 99 skips, 98 fails without retries, others mean not yet', async function () {
    const dir = tempDir('process-sensor');
    const triggered = await startRun(stack, 'wf_sensor_process', { conf: { dir } });
    await waitFor(
      'a poke that exited 1',
      async () =>
        (await log('wf_sensor_process', triggered.runId, 'wait_flag')).includes(
          'poke 2: not yet: the program exited with 1; next poke in 0.2s',
        ),
      15_000,
    );
    fs.writeFileSync(path.join(dir, 'flag'), '');
    const { result, tis } = await finishRun(stack, triggered);
    expect(result.state).to.equal('failed');
    expect(statesOf(tis)).to.deep.equal({ wait_flag: ['success', 1], skip_me: ['skipped', 1], fail_me: ['failed', 1] });
    expect(ti(tis, 'wait_flag').exit_code).to.equal(0);
    expect(
      await getXCom(stack.database.db, {
        dag_id: 'wf_sensor_process',
        run_id: triggered.runId,
        task_id: 'wait_flag',
        map_index: -1,
        key: 'return_value',
      }),
    ).to.deep.equal({ seen: true });
    expect(ti(tis, 'fail_me').exit_code).to.equal(98);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('timeout: fails without retries (AirflowSensorTimeout), in poke and in reschedule mode', async function () {
    const { result, tis, history, triggered } = await runDag(stack, 'wf_sensor_timeout');
    expect(result.state).to.equal('failed');
    expect(statesOf(tis)).to.deep.equal({ never: ['failed', 1], never_rescheduled: ['failed', 1] });
    expect(ti(tis, 'never').max_tries).to.equal(3);
    expect(ti(tis, 'never').error).to.match(
      /^AirflowSensorTimeout: Sensor has timed out; run duration of \d+\.\d{3} seconds exceeds the specified timeout of 1\.$/,
    );
    expect(ti(tis, 'never_rescheduled').error).to.match(
      /^AirflowSensorTimeout: Sensor has timed out; run duration of \d+\.\d{3} seconds exceeds the specified timeout of 1\.5\.$/,
    );
    expect(history.map((h) => [h.task_id, h.try_number, h.state]).sort()).to.deep.equal([
      ['never', 1, 'failed'],
      ['never_rescheduled', 1, 'failed'],
    ]);
    // The rescheduled sensor's timeout counted from its first poke, across its reschedules.
    const reschedules = await listReschedules(stack.database.db, {
      dag_id: 'wf_sensor_timeout',
      run_id: triggered.runId,
      task_id: 'never_rescheduled',
      map_index: -1,
    });
    expect(reschedules.length).to.be.at.least(2);
    const failedAt = ti(tis, 'never_rescheduled').end_date!.getTime();
    expect(failedAt - reschedules[0]!.start_date.getTime()).to.be.at.least(1500);
  });

  it('soft_fail: a timeout skips the sensor (and what depends on it)', async function () {
    const { result, tis } = await runDag(stack, 'wf_sensor_soft_fail');
    expect(statesOf(tis)).to.deep.equal({ soft: ['skipped', 1], after: ['skipped', 0] });
    expect(result.state).to.equal('success');
    expect(ti(tis, 'soft').error).to.match(
      /^Sensor has timed out; run duration of \d+\.\d{3} seconds exceeds the specified timeout of 1\.$/,
    );
  });

  it('never_fail skips a sensor whose check throws; silent_fail logs the error and pokes again', async function () {
    const { result, tis, triggered } = await runDag(stack, 'wf_sensor_fail_modes');
    expect(statesOf(tis)).to.deep.equal({
      never_fail: ['skipped', 1],
      after_never: ['skipped', 0],
      silent_fail: ['success', 1],
    });
    expect(result.state).to.equal('success');
    expect(ti(tis, 'never_fail').error).to.match(/^Skipping due to never_fail is set to True\. .*the backend is down/);
    const lines = await log('wf_sensor_fail_modes', triggered.runId, 'silent_fail');
    expect(lines.filter((l) => l.startsWith('Sensor poke failed (silent_fail, poking again): '))).to.have.length(2);
    expect(lines.some((l) => l.includes('poke 2 could not reach the backend'))).to.equal(true);
  });

  it("external task sensor: waits for another DAG's task and run at the same logical date", async function () {
    const logicalDate = new Date(Date.UTC(2026, 5, 1, 12, 0, 0, Math.floor(Math.random() * 1000)));
    const trigger = (dagId: string) =>
      triggerDagRun(stack.database.db, stack.client, {
        dagId,
        runId: uniqueRunId(dagId),
        logicalDate,
        runOptions: stack.config.run,
      });
    const sensing = await trigger('wf_sensor_external');
    await waitFor(
      'a poke that found no upstream run',
      async () =>
        (await log('wf_sensor_external', sensing.runId, 'wait_task')).some((l) =>
          l.startsWith(`poke 1: no run of DAG "wf_sensor_upstream" at logical date ${logicalDate.toISOString()} yet`),
        ),
      15_000,
    );
    const upstream = await trigger('wf_sensor_upstream');
    const [sensed, produced] = await Promise.all([finishRun(stack, sensing), finishRun(stack, upstream)]);
    expect(produced.result.state).to.equal('success');
    expect(sensed.result.state).to.equal('success');
    expect(statesOf(sensed.tis)).to.deep.equal({ wait_task: ['success', 1], wait_run: ['success', 1] });
    expect(ti(sensed.tis, 'wait_task').end_date!.getTime()).to.be.at.least(
      ti(produced.tis, 'produce').end_date!.getTime(),
    );
    expect(ti(sensed.tis, 'wait_run').end_date!.getTime()).to.be.at.least(produced.run.end_date!.getTime());
    expect(await log('wf_sensor_external', sensing.runId, 'wait_task')).to.include(
      `sensor condition met: task "produce" of DAG "wf_sensor_upstream" at logical date ${logicalDate.toISOString()} (run "${upstream.runId}") is success`,
    );
  });
});
