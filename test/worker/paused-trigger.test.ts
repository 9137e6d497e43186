/// <reference types="mocha" />
/**
 * Airflow 3's rule for a paused DAG, on the real Temporal dev server, a worker and Postgres: a
 * manual trigger is recorded `queued` and starts only when the DAG is unpaused (the unpause wakes
 * it, as `dags unpause` does); the run `dags test` makes (triggered_by 'test') runs at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { wakeQueuedRuns } from '../../client/schedules.js';
import { triggerDagRun } from '../../client/trigger.js';
import { getDagRun } from '../../db/dag-run.repository.js';
import { setDagPaused } from '../../db/dag.repository.js';
import { DagRunTriggeredBy } from '../../spec/states.js';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../workflows/helpers.js';

const PAUSED = `import { dag } from 'updraft';
export default dag({ dagId: 'paused_manual', isPausedUponCreation: true, tags: ['test'] }, (d) => {
  d.task({ taskId: 't' }, () => 1)();
});
`;

describe('a manual trigger of a paused DAG', function () {
  let stack: TestStack;
  let folder: string;

  before(async function () {
    this.timeout(120_000);
    folder = tempDir('paused-dags');
    fs.writeFileSync(path.join(folder, 'paused.ts'), PAUSED);
    stack = await startTestStack({ dagsFolder: folder, db: 'postgres' });
  });

  after(async function () {
    this.timeout(60_000);
    await stack?.stop();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  it('stays queued until the DAG is unpaused; the run `dags test` makes does not wait', async function () {
    this.timeout(60_000);
    const db = stack.database.db;
    const manual = await triggerDagRun(db, stack.client, { dagId: 'paused_manual', runOptions: stack.config.run });
    const tested = await triggerDagRun(db, stack.client, {
      dagId: 'paused_manual',
      triggeredBy: DagRunTriggeredBy.TEST,
      runOptions: stack.config.run,
    });
    await waitFor(
      "the test run's success",
      async () => (await getDagRun(db, 'paused_manual', tested.runId))?.state === 'success' || undefined,
      30_000,
      200,
    );
    // Its admission was asked at least once by now (the test run, triggered after it, has ended).
    await new Promise((r) => setTimeout(r, 1_500));
    const held = await getDagRun(db, 'paused_manual', manual.runId);
    expect(held?.state).to.equal('queued');
    expect(held?.triggered_by).to.equal('cli');
    expect(held?.start_date).to.equal(null);
    const unpausedAt = Date.now();
    await setDagPaused(db, 'paused_manual', false);
    expect(await wakeQueuedRuns(db, stack.client, 'paused_manual')).to.equal(1);
    const done = await waitFor(
      'the manual run to succeed after the unpause',
      async () => {
        const r = await getDagRun(db, 'paused_manual', manual.runId);
        return r?.state === 'success' ? r : undefined;
      },
      20_000,
      100,
    );
    expect(done.start_date!.getTime()).to.be.at.least(unpausedAt);
  });
});
