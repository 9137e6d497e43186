/// <reference types="mocha" />
/**
 * Scheduled runs on the real Temporal dev server (its Schedules), a real worker and Postgres: a
 * seconds-level schedule fires runs with Airflow's dates reaching the task context and templates;
 * pause stops it and unpause resumes without a burst (with catchup, the missed runs come at
 * once); duplicated fires make no second run; max_active_runs=1 runs five triggers one at a time
 * in order; a backfill of 10 dates with --max-active-runs 2 never runs more than 2; a DAG edit
 * changing the cron updates the Schedule in place and removing the file deletes it; an invalid
 * cron is an import error and gets no Schedule.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ScheduleNotFoundError } from '@temporalio/client';
import { createBackfill, BackfillError } from '../../client/backfill.js';
import {
  createDueRuns,
  scheduleIdFor,
  syncDagSchedule,
  wakeQueuedRuns,
  type SchedulerContext,
} from '../../client/schedules.js';
import { triggerDagRun } from '../../client/trigger.js';
import type { DagRunRow } from '../../db/database.js';
import { setDagPaused } from '../../db/dag.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { waitFor } from '../workflows/helpers.js';
import { runsOf } from './run-rows.js';

const EVERY_2S = `import { dag } from 'updraft';
export default dag({ dagId: 'sch_every2s', schedule: '* * * * * */2', startDate: '2025-01-01', tags: ['test'] }, (d) => {
  d.task({ taskId: 'dates' }, (_: void, ctx) => ({
    logical: ctx.logicalDate?.toISOString() ?? null, start: ctx.dataIntervalStart?.toISOString() ?? null,
    end: ctx.dataIntervalEnd?.toISOString() ?? null, runAfter: ctx.runAfter?.toISOString() ?? null, runId: ctx.runId,
  }))();
  d.process({ taskId: 'templated', argv: ['echo', 'ra={{ run_after }} dis={{ data_interval_start }} ld={{ logical_date }} ts={{ ts }}'] });
});
`;

/** catchup on, start date a few seconds ago (written when the test starts). */
function catchupDag(startIso: string): string {
  return `import { dag } from 'updraft';
export default dag({ dagId: 'sch_catchup', schedule: '* * * * * */2', startDate: '${startIso}', catchup: true, isPausedUponCreation: true, tags: ['test'] }, (d) => {
  d.task({ taskId: 't' }, () => 1)();
});
`;
}

const MAX1 = `import { dag } from 'updraft';
export default dag({ dagId: 'sch_max1', maxActiveRuns: 1, tags: ['test'] }, (d) => {
  d.task({ taskId: 'slow' }, () => new Promise((r) => setTimeout(r, 400)))();
});
`;

const DAILY = `import { dag } from 'updraft';
export default dag({ dagId: 'sch_daily', schedule: '@daily', startDate: '2025-01-01', isPausedUponCreation: true, tags: ['test'] }, (d) => {
  d.task({ taskId: 'slow' }, () => new Promise((r) => setTimeout(r, 700)))();
});
`;

const editable = (cron: string): string => `import { dag } from 'updraft';
export default dag({ dagId: 'sch_edit', schedule: '${cron}', startDate: '2025-01-01', timezone: 'Europe/Amsterdam', tags: ['test'] }, (d) => {
  d.task({ taskId: 't' }, () => 1)();
});
`;

const BAD_CRON = `import { dag } from 'updraft';
export default dag({ dagId: 'sch_bad', schedule: '61 * * * *', tags: ['test'] }, (d) => {
  d.task({ taskId: 't' }, () => 1)();
});
`;

/** The most runs whose [start_date, end_date] overlap at one instant. */
function maxOverlap(runs: DagRunRow[]): number {
  const events = runs.flatMap(
    (r) =>
      [
        [r.start_date!.getTime(), 1],
        [r.end_date!.getTime(), -1],
      ] as Array<[number, number]>,
  );
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (now += d));
  return max;
}

describe('schedules on Temporal: scheduled runs, pause, catchup, max_active_runs, backfill', function () {
  let stack: TestStack;
  let folder: string;
  let ctx: SchedulerContext;

  before(async function () {
    this.timeout(180_000);
    folder = tempDir('schedule-dags');
    fs.writeFileSync(path.join(folder, 'every2s.ts'), EVERY_2S);
    fs.writeFileSync(path.join(folder, 'max1.ts'), MAX1);
    fs.writeFileSync(path.join(folder, 'daily.ts'), DAILY);
    fs.writeFileSync(path.join(folder, 'edit.ts'), editable('0 3 * * *'));
    fs.writeFileSync(path.join(folder, 'bad.ts'), BAD_CRON);
    fs.writeFileSync(path.join(folder, 'catchup.ts'), catchupDag(new Date(Date.now() - 9_000).toISOString()));
    stack = await startTestStack({
      dagsFolder: folder,
      db: 'postgres',
      config: { scheduler: true, minFileProcessIntervalSeconds: 1, dagDirListIntervalSeconds: 2 },
    });
    ctx = {
      db: stack.database.db,
      client: stack.client,
      runOptions: stack.config.run,
      logsFolder: stack.config.logsFolder,
    };
  });

  after(async function () {
    this.timeout(60_000);
    for (const dagId of ['sch_every2s', 'sch_catchup', 'sch_daily', 'sch_edit', 'sch_max1']) {
      await stack?.client.schedule
        .getHandle(scheduleIdFor(dagId))
        .delete()
        .catch(() => undefined);
    }
    await stack?.stop();
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  it('a seconds-level schedule fires three runs with Airflow dates in the context and templates', async function () {
    this.timeout(60_000);
    const done = await waitFor(
      'three successful scheduled runs',
      async () => {
        const runs = (await runsOf(stack, 'sch_every2s')).filter((r) => r.state === 'success');
        return runs.length >= 3 ? runs : undefined;
      },
      40_000,
      250,
    );
    for (const run of done) {
      expect(run.run_type).to.equal('scheduled');
      const iso = run.run_after!.toISOString();
      // CronTriggerTimetable: logical date = data interval = run_after; run id scheduled__<run_after>.
      expect(run.run_id).to.equal(`scheduled__${iso.slice(0, 19)}+00:00`);
      expect(run.logical_date!.toISOString()).to.equal(iso);
      expect(run.data_interval_start!.toISOString()).to.equal(iso);
      expect(run.data_interval_end!.toISOString()).to.equal(iso);
      expect(run.run_after!.getUTCSeconds() % 2).to.equal(0);
      // The run started at its fire time, not long after.
      expect(run.start_date!.getTime() - run.run_after!.getTime()).to.be.within(0, 5_000);
      const seen = await getXCom(stack.database.db, {
        dag_id: 'sch_every2s',
        run_id: run.run_id,
        task_id: 'dates',
        map_index: -1,
        key: 'return_value',
      });
      expect(seen).to.deep.equal({ logical: iso, start: iso, end: iso, runAfter: iso, runId: run.run_id });
      const log = await readTaskLog(stack.database.db, {
        dag_id: 'sch_every2s',
        run_id: run.run_id,
        task_id: 'templated',
        map_index: -1,
        try_number: 1,
      });
      expect(log.map((l) => l.line).join('\n')).to.include(
        `ra=${iso.slice(0, 19)}+00:00 dis=${iso.slice(0, 19)}+00:00 ld=${iso.slice(0, 19)}+00:00 ts=${iso.slice(0, 19)}+00:00`,
      );
    }
    const afters = done.map((r) => r.run_after!.getTime());
    for (let i = 1; i < afters.length; i++) expect(afters[i]! - afters[i - 1]!).to.be.at.least(2000);
    // Visible in Temporal: the schedule, its note and its next fire times.
    const desc = await stack.client.schedule.getHandle(scheduleIdFor('sch_every2s')).describe();
    expect(desc.state.paused).to.equal(false);
    expect(desc.state.note).to.include('Updraft DAG "sch_every2s"');
    expect(desc.action.workflowType).to.equal('scheduleTick');
    expect(desc.info.nextActionTimes.length).to.be.greaterThan(0);
    expect(desc.info.recentActions.length).to.be.greaterThan(0);
  });

  it('a duplicated or retried fire never makes a second run', async function () {
    this.timeout(30_000);
    const before = await runsOf(stack, 'sch_every2s');
    // Five ticks at once at a pinned instant: each run id is made once, whoever gets there first.
    const at = new Date(Math.ceil(Date.now() / 2000) * 2000 + 1);
    await new Promise((r) => setTimeout(r, at.getTime() - Date.now() + 5));
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map(() => createDueRuns({ ...ctx, now: () => at }, 'sch_every2s')),
    );
    const created = results.flatMap((r) => r.created);
    expect(new Set(created).size, `created ${created.join(', ')}`).to.equal(created.length);
    const after = await runsOf(stack, 'sch_every2s');
    const ids = after.map((r) => r.run_id);
    expect(new Set(ids).size).to.equal(ids.length);
    const dates = after.map((r) => r.logical_date!.getTime());
    expect(new Set(dates).size).to.equal(dates.length);
    expect(after.length).to.be.at.least(before.length);
  });

  it('pause stops the schedule; unpause resumes without a burst (catchup off)', async function () {
    this.timeout(60_000);
    await setDagPaused(stack.database.db, 'sch_every2s', true);
    expect(await syncDagSchedule(ctx, 'sch_every2s')).to.equal('updated');
    const handle = stack.client.schedule.getHandle(scheduleIdFor('sch_every2s'));
    expect((await handle.describe()).state.paused).to.equal(true);
    await new Promise((r) => setTimeout(r, 2_500)); // a fire already in flight lands
    const pausedAt = Date.now();
    const countAtPause = (await runsOf(stack, 'sch_every2s')).length;
    await new Promise((r) => setTimeout(r, 7_000));
    expect((await runsOf(stack, 'sch_every2s')).length, 'runs created while paused').to.equal(countAtPause);
    const unpausedAt = Date.now();
    await setDagPaused(stack.database.db, 'sch_every2s', false);
    await syncDagSchedule(ctx, 'sch_every2s');
    expect((await handle.describe()).state.paused).to.equal(false);
    await waitFor(
      'a run after unpausing',
      async () => (await runsOf(stack, 'sch_every2s')).some((r) => r.run_after!.getTime() > unpausedAt) || undefined,
      10_000,
      200,
    );
    const missed = (await runsOf(stack, 'sch_every2s')).filter(
      (r) => r.run_after!.getTime() > pausedAt && r.run_after!.getTime() <= unpausedAt,
    );
    // Catchup off: at most the latest missed fire (Airflow's), not the three or four the pause skipped.
    expect(missed.length, missed.map((r) => r.run_id).join(', ')).to.be.at.most(1);
    await setDagPaused(stack.database.db, 'sch_every2s', true);
    await syncDagSchedule(ctx, 'sch_every2s');
  });

  it('catchup on: unpausing creates every missed run, in order, at once', async function () {
    this.timeout(60_000);
    // Created paused (isPausedUponCreation): nothing ran yet.
    expect(await runsOf(stack, 'sch_catchup')).to.have.length(0);
    await new Promise((r) => setTimeout(r, 1_000));
    await setDagPaused(stack.database.db, 'sch_catchup', false);
    const unpausedAt = Date.now();
    await syncDagSchedule(ctx, 'sch_catchup');
    const runs = await runsOf(stack, 'sch_catchup');
    // start_date was ~10 s ago, every 2 s: about five runs, all created by the unpause itself.
    expect(runs.length).to.be.at.least(4);
    for (const r of runs) expect(r.queued_at!.getTime()).to.be.at.most(unpausedAt + 5_000);
    const afters = runs.map((r) => r.run_after!.getTime());
    expect(afters).to.deep.equal([...afters].sort((a, b) => a - b));
    for (let i = 1; i < afters.length; i++) expect(afters[i]! - afters[i - 1]!).to.equal(2000);
    await setDagPaused(stack.database.db, 'sch_catchup', true);
    await syncDagSchedule(ctx, 'sch_catchup');
  });

  it('max_active_runs=1: five triggers run one at a time, in order', async function () {
    this.timeout(60_000);
    const triggered = [];
    for (let i = 0; i < 5; i++) {
      triggered.push(
        await triggerDagRun(stack.database.db, stack.client, { dagId: 'sch_max1', runOptions: stack.config.run }),
      );
    }
    // Right after the triggers, at most one runs and the rest wait in queued.
    const early = await runsOf(stack, 'sch_max1');
    expect(early.filter((r) => r.state === 'running').length).to.be.at.most(1);
    expect(early.filter((r) => r.state === 'queued').length).to.be.at.least(3);
    const done = await waitFor(
      'five runs done',
      async () => {
        const runs = await runsOf(stack, 'sch_max1');
        return runs.length === 5 && runs.every((r) => r.state === 'success') ? runs : undefined;
      },
      40_000,
      200,
    );
    expect(maxOverlap(done)).to.equal(1);
    const byStart = [...done].sort((a, b) => a.start_date!.getTime() - b.start_date!.getTime()).map((r) => r.run_id);
    expect(byStart).to.deep.equal(triggered.map((t) => t.runId));
  });

  it('a backfill of 10 dates with max_active_runs 2 never runs more than 2, oldest first', async function () {
    this.timeout(90_000);
    const req = {
      dagId: 'sch_daily',
      fromDate: new Date('2025-01-01T00:00:00Z'),
      toDate: new Date('2025-01-10T00:00:00Z'),
      reprocessBehavior: 'none' as const,
      maxActiveRuns: 2,
      runBackwards: false,
      runOptions: stack.config.run,
    };
    const dry = await createBackfill(stack.database.db, null, { ...req, dryRun: true });
    expect(dry.runs.map((r) => r.run_id)).to.deep.equal(
      Array.from({ length: 10 }, (_, i) => `backfill__2025-01-${String(i + 1).padStart(2, '0')}T00:00:00+00:00`),
    );
    expect(await runsOf(stack, 'sch_daily'), 'a dry run creates nothing').to.have.length(0);
    // A paused DAG's backfill runs wait: unpause it (its own schedule then makes yesterday's run).
    await setDagPaused(stack.database.db, 'sch_daily', false);
    const outcome = await createBackfill(stack.database.db, stack.client, { ...req, dryRun: false });
    expect(outcome.backfillId).to.be.a('number');
    const done = await waitFor(
      'ten backfill runs done',
      async () => {
        const runs = (await runsOf(stack, 'sch_daily')).filter((r) => r.run_type === 'backfill');
        return runs.length === 10 && runs.every((r) => r.state === 'success') ? runs : undefined;
      },
      60_000,
      250,
    );
    expect(maxOverlap(done)).to.equal(2);
    for (const r of done) {
      expect(r.backfill_id).to.equal(outcome.backfillId);
      expect(r.data_interval_end!.getTime() - r.data_interval_start!.getTime()).to.equal(0);
    }
    const byStart = [...done].sort((a, b) => a.start_date!.getTime() - b.start_date!.getTime() || a.id - b.id);
    // Admitted oldest first (two at a time, so starts are ordered by pairs).
    const order = byStart.map((r) => r.logical_date!.getTime());
    for (let i = 2; i < order.length; i++) expect(order[i]).to.be.greaterThan(order[i - 2]!);
    // Again with reprocess none: every date has a run, nothing is created.
    const again = await createBackfill(stack.database.db, stack.client, { ...req, dryRun: true });
    expect(again.runs.every((r) => r.action === 'skip')).to.equal(true);
    let refused: unknown;
    await createBackfill(stack.database.db, null, {
      ...req,
      fromDate: new Date(Date.now() + 86_400_000),
      toDate: new Date(Date.now() + 2 * 86_400_000),
      dryRun: true,
    }).catch((e) => {
      refused = e;
    });
    expect(refused).to.be.instanceOf(BackfillError);
    expect((refused as Error).message).to.match(/future dates/);
    await setDagPaused(stack.database.db, 'sch_daily', true);
    await wakeQueuedRuns(stack.database.db, stack.client, 'sch_daily');
  });

  it('a DAG edit changing the cron updates the schedule in place; removing the file deletes it', async function () {
    this.timeout(60_000);
    const handle = stack.client.schedule.getHandle(scheduleIdFor('sch_edit'));
    const first = await handle.describe();
    // 03:00 in Amsterdam is 02:00 or 01:00 UTC; the comment names the run id (UTC).
    expect(first.spec.calendars?.[0]?.comment).to.match(/^scheduled__\d{4}-\d{2}-\d{2}T0[12]:00:00\+00:00$/);
    fs.writeFileSync(path.join(folder, 'edit.ts'), editable('30 4 * * *'));
    const updated = await waitFor(
      'the schedule to follow the edit',
      async () => {
        const d = await handle.describe();
        return /T0[23]:30:00\+00:00$/.test(d.spec.calendars?.[0]?.comment ?? '') ? d : undefined;
      },
      30_000,
      250,
    );
    expect(updated.info.createdAt.getTime()).to.equal(first.info.createdAt.getTime());
    expect(updated.state.note).to.include('30 4 * * *');
    fs.rmSync(path.join(folder, 'edit.ts'));
    await waitFor(
      'the schedule to be deleted',
      async () => {
        try {
          await handle.describe();
          return undefined;
        } catch (err) {
          return err instanceof ScheduleNotFoundError ? true : undefined;
        }
      },
      30_000,
      250,
    );
  });

  it('an invalid cron is an import error naming the DAG and the field, and gets no schedule', async function () {
    const error = stack.bag.importErrors.find((e) => e.filename.endsWith('bad.ts'));
    expect(error?.stacktrace).to.include('DAG "sch_bad": schedule: invalid cron expression');
    let missing: unknown;
    await stack.client.schedule
      .getHandle(scheduleIdFor('sch_bad'))
      .describe()
      .catch((e) => {
        missing = e;
      });
    expect(missing).to.be.instanceOf(ScheduleNotFoundError);
  });
});
