/// <reference types="mocha" />
/**
 * `@continuous` DAGs on the real Temporal dev server, two real workers and Postgres: runs follow
 * one another back to back (never two at once, each data interval starting where the previous
 * ended, Airflow's dates and run ids), started by the previous run's end (the periodic sync is
 * set to 10 minutes here, so it cannot be what starts them); pause stops it after the running run,
 * unpause resumes with one run; five schedulers racing record one run; a start_date in the future
 * waits on a one-fire Temporal Schedule and an end_date ends the runs; removing the DAG file stops
 * it. Prints the median gap between a run's end and the next run's start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ScheduleNotFoundError } from '@temporalio/client';
import { startContinuousRun } from '../../client/continuous.js';
import { scheduleIdFor, syncDagSchedule, type SchedulerContext } from '../../client/schedules.js';
import type { DagRunRow } from '../../db/database.js';
import { setDagPaused } from '../../db/dag.repository.js';
import { runIdFor } from '../../engine/timetables/index.js';
import { startStack, type Stack } from '../../worker/stack.js';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../workflows/helpers.js';
import { runsOf } from './run-rows.js';

const START = '2025-01-01T00:00:00.000Z';

const CONT = `import { dag } from 'updraft';
export default dag({ dagId: 'cont', schedule: '@continuous', startDate: '${START}', tags: ['test'] }, (d) => {
  d.task({ taskId: 'work' }, () => new Promise((r) => setTimeout(r, 300)))();
});
`;

/** Starts in a few seconds and ends a few seconds later (written when the suite starts). */
function windowDag(startIso: string, endIso: string): string {
  return `import { dag } from 'updraft';
export default dag({ dagId: 'cont_window', schedule: '@continuous', startDate: '${startIso}', endDate: '${endIso}', tags: ['test'] }, (d) => {
  d.task({ taskId: 'work' }, () => new Promise((r) => setTimeout(r, 200)))();
});
`;
}

const DOOMED = `import { dag } from 'updraft';
export default dag({ dagId: 'cont_removed', schedule: '@continuous', startDate: '${START}', isPausedUponCreation: true, tags: ['test'] }, (d) => {
  d.task({ taskId: 'work' }, () => new Promise((r) => setTimeout(r, 300)))();
});
`;

const finished = (r: DagRunRow): boolean => r.state === 'success' || r.state === 'failed';

/** Checks runs that ended one after another: one at a time, intervals chained, Airflow's fields. */
function expectBackToBack(runs: DagRunRow[], startDate: Date): void {
  expect(runs[0]!.data_interval_start!.toISOString()).to.equal(startDate.toISOString());
  for (const [i, r] of runs.entries()) {
    expect(r.run_type).to.equal('scheduled');
    expect(r.triggered_by).to.equal('timetable');
    expect(r.logical_date!.getTime()).to.equal(r.data_interval_start!.getTime());
    expect(r.run_after!.getTime()).to.equal(r.data_interval_end!.getTime());
    expect(r.run_id).to.equal(runIdFor('scheduled', r.run_after!));
    // The run was recorded at its run_after (its interval ends "now").
    expect(Math.abs(r.queued_at!.getTime() - r.run_after!.getTime())).to.be.at.most(1000);
    if (i === 0) continue;
    const prev = runs[i - 1]!;
    expect(r.data_interval_start!.getTime(), `${r.run_id} starts where ${prev.run_id} ended`).to.equal(
      prev.data_interval_end!.getTime(),
    );
    // Never two at once: the next starts (and was even recorded) after the previous ended.
    expect(r.queued_at!.getTime(), `${r.run_id} recorded after ${prev.run_id} ended`).to.be.at.least(
      prev.end_date!.getTime(),
    );
    expect(r.start_date!.getTime()).to.be.at.least(prev.end_date!.getTime());
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

describe('@continuous: the next run starts when the previous ends', function () {
  let first: TestStack;
  let second: Stack;
  let folder: string;
  let ctx: SchedulerContext;
  let windowStart: Date;
  let windowEnd: Date;

  before(async function () {
    this.timeout(180_000);
    folder = tempDir('continuous-dags');
    fs.writeFileSync(path.join(folder, 'cont.ts'), CONT);
    fs.writeFileSync(path.join(folder, 'removed.ts'), DOOMED);
    // Placed far enough ahead that both workers are up before it starts.
    windowStart = new Date(Math.ceil((Date.now() + 60_000) / 1000) * 1000);
    windowEnd = new Date(windowStart.getTime() + 4_000);
    fs.writeFileSync(path.join(folder, 'window.ts'), windowDag(windowStart.toISOString(), windowEnd.toISOString()));
    first = await startTestStack({
      dagsFolder: folder,
      db: 'postgres',
      // The periodic sync (and folder listing) every 10 minutes: within this suite only a run's end,
      // a DAG change, an unpause or a schedule fire starts a continuous run.
      config: { scheduler: true, minFileProcessIntervalSeconds: 1, dagDirListIntervalSeconds: 600 },
    });
    expect(first.bag.importErrors).to.deep.equal([]);
    // A second worker on the same database and task queue, its scheduler on too.
    second = await startStack({
      config: { ...first.config, home: tempDir('home2') },
      gpu: { devices: [], gpuType: null, source: 'none' },
    });
    ctx = {
      db: first.database.db,
      client: first.client,
      runOptions: first.config.run,
      logsFolder: first.config.logsFolder,
    };
  });

  after(async function () {
    this.timeout(60_000);
    for (const dagId of ['cont', 'cont_window', 'cont_removed']) {
      await first?.database.db
        .updateTable('dag')
        .set({ is_paused: true })
        .where('dag_id', '=', dagId)
        .execute()
        .catch(() => undefined);
      await first?.client.schedule
        .getHandle(scheduleIdFor(dagId))
        .delete()
        .catch(() => undefined);
    }
    await second?.stop();
    if (second) fs.rmSync(second.config.home, { recursive: true, force: true });
    await first?.stop();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  it('runs back to back, one at a time, with chained data intervals; prints the gap', async function () {
    this.timeout(120_000);
    const runs = await waitFor(
      'eleven finished runs',
      async () => {
        const all = await runsOf(first, 'cont');
        const done = all.filter(finished);
        return done.length >= 11 ? all : undefined;
      },
      100_000,
      200,
    );
    expect(runs.filter((r) => !finished(r)).length, 'runs queued or running').to.be.at.most(1);
    const done = runs.filter(finished);
    expect(done.every((r) => r.state === 'success')).to.equal(true);
    expectBackToBack(done, new Date(START));
    const gaps = done.slice(1).map((r, i) => r.start_date!.getTime() - done[i]!.end_date!.getTime());
    const toRecord = done.slice(1).map((r, i) => r.queued_at!.getTime() - done[i]!.end_date!.getTime());
    process.stdout.write(
      `      @continuous: previous run's end → next run's start, median ${median(gaps)} ms over ${gaps.length} ` +
        `(min ${Math.min(...gaps)}, max ${Math.max(...gaps)}); end → next recorded median ${median(toRecord)} ms\n`,
    );
    // The periodic sync is 10 minutes away: only the run-end event can start runs this fast.
    expect(median(gaps)).to.be.below(3_000);
  });

  it('pause stops it after the running run; unpause resumes with one run; racing schedulers record one', async function () {
    this.timeout(90_000);
    await setDagPaused(first.database.db, 'cont', true);
    await syncDagSchedule(ctx, 'cont');
    // The run in flight may finish; nothing follows it.
    const settled = await waitFor(
      'no run queued or running',
      async () => {
        const all = await runsOf(first, 'cont');
        return all.every((r) => finished(r) || r.state === 'queued') ? all : undefined;
      },
      30_000,
      200,
    );
    const queuedAtPause = settled.filter((r) => r.state === 'queued');
    // A run recorded just before the pause stays queued (admission holds it), never starts.
    expect(queuedAtPause.length).to.be.at.most(1);
    await new Promise((r) => setTimeout(r, 3_000));
    const whilePaused = await runsOf(first, 'cont');
    expect(whilePaused.length, 'runs created while paused').to.equal(settled.length);
    expect(whilePaused.filter((r) => r.state === 'running')).to.have.length(0);
    // Unpause: five schedulers (the CLI's sync, workers' syncs) ask at once.
    if (queuedAtPause.length > 0) {
      // Let it run out so the race below starts from an empty slot.
      await setDagPaused(first.database.db, 'cont', false);
      await syncDagSchedule(ctx, 'cont');
      await waitFor('the held run to end', async () => {
        const r = (await runsOf(first, 'cont')).find((x) => x.run_id === queuedAtPause[0]!.run_id);
        return r && finished(r);
      });
      await setDagPaused(first.database.db, 'cont', true);
      await waitFor('no run queued or running', async () => (await runsOf(first, 'cont')).every(finished) || undefined);
    }
    const before = await runsOf(first, 'cont');
    await setDagPaused(first.database.db, 'cont', false);
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => startContinuousRun(ctx, 'cont')));
    const created = results.flatMap((r) => r.created);
    expect(created, JSON.stringify(results)).to.have.length(1);
    await waitFor(
      'two more runs after the unpause',
      async () => ((await runsOf(first, 'cont')).filter(finished).length >= before.length + 2 ? true : undefined),
      30_000,
      200,
    );
    await setDagPaused(first.database.db, 'cont', true);
    await syncDagSchedule(ctx, 'cont');
    await waitFor('no run queued or running', async () => (await runsOf(first, 'cont')).every(finished) || undefined);
    const all = (await runsOf(first, 'cont')).filter(finished);
    // The whole history stays one at a time and chained, across pause and unpause.
    expectBackToBack(all, new Date(START));
  });

  it('a start_date in the future waits on a one-fire Schedule; the end_date ends the runs', async function () {
    this.timeout(120_000);
    const handle = first.client.schedule.getHandle(scheduleIdFor('cont_window'));
    if (Date.now() < windowStart.getTime() - 2_000) {
      const desc = await handle.describe();
      expect(desc.spec.calendars).to.have.length(1);
      expect(desc.spec.calendars?.[0]?.comment).to.equal(runIdFor('scheduled', windowStart));
      expect(await runsOf(first, 'cont_window')).to.have.length(0);
    }
    await waitFor('the end_date to pass', () => Date.now() > windowEnd.getTime() + 3_000 || undefined, 90_000, 500);
    const runs = await waitFor(
      'the last run to end',
      async () => {
        const all = await runsOf(first, 'cont_window');
        return all.length > 0 && all.every(finished) ? all : undefined;
      },
      20_000,
      200,
    );
    expect(runs.length, runs.map((r) => r.run_id).join(', ')).to.be.at.least(3);
    expect(runs[0]!.start_date!.getTime()).to.be.at.least(windowStart.getTime());
    expectBackToBack(runs, windowStart);
    for (const r of runs) expect(r.data_interval_end!.getTime()).to.be.at.most(windowEnd.getTime());
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await runsOf(first, 'cont_window')).to.have.length(runs.length);
    // Its first fire done, the Schedule is gone (a run's end starts the next; none after end_date).
    let missing: unknown;
    await handle.describe().catch((err: unknown) => (missing = err));
    expect(missing).to.be.instanceOf(ScheduleNotFoundError);
  });

  it('removing the DAG file stops it', async function () {
    this.timeout(60_000);
    // Created paused, so that it ran only for this test: unpaused as the CLI does.
    expect(await runsOf(first, 'cont_removed')).to.have.length(0);
    await setDagPaused(first.database.db, 'cont_removed', false);
    await syncDagSchedule(ctx, 'cont_removed');
    await waitFor(
      'two finished runs',
      async () => ((await runsOf(first, 'cont_removed')).filter(finished).length >= 2 ? true : undefined),
      30_000,
      200,
    );
    fs.rmSync(path.join(folder, 'removed.ts'));
    await first.dagProcessor!.refresh({ list: true });
    await second.dagProcessor!.refresh({ list: true });
    const stopped = await waitFor(
      'the last run to end',
      async () => {
        const all = await runsOf(first, 'cont_removed');
        return all.every(finished) ? all : undefined;
      },
      20_000,
      200,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await runsOf(first, 'cont_removed'), 'runs after the file was removed').to.have.length(stopped.length);
    expectBackToBack(stopped, new Date(START));
  });
});
