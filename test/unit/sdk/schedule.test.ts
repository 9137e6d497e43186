/**
 * Scheduling options on dag(): what the compiler puts in the DagSpec, checked against what real
 * Airflow's DAG() made of the same arguments (test/fixtures/timetables, "dags" rows), and the
 * import errors for bad input.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileDag } from '../../../sdk/compile.js';
import { dag } from '../../../sdk/dag.js';
import { DagDefinitionError } from '../../../sdk/errors.js';
import type { DagOptions } from '../../../sdk/options.js';
import {
  AssetAll,
  AssetAny,
  CronDataIntervalTimetable,
  CronTriggerTimetable,
  DeltaDataIntervalTimetable,
  DeltaTriggerTimetable,
  EventsTimetable,
  MultipleCronTriggerTimetable,
} from '../../../sdk/timetables.js';
import { nextExecutions, restrictionOf } from '../../../engine/timetables/runs.js';
import { timetableFromSpec } from '../../../engine/timetables/timetables.js';
import type { DagSpec } from '../../../spec/dag-spec.js';

const FIXTURE = path.resolve(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'timetables',
  'airflow-timetables.json',
);

function compile(options: Omit<DagOptions, 'dagId'>): DagSpec {
  return compileDag(
    dag({ dagId: 'sched', ...options }, (d) => void d.task({ taskId: 't' }, () => 1)),
    'sched.ts',
  ).spec;
}

function compileError(options: Omit<DagOptions, 'dagId'>): DagDefinitionError {
  try {
    compile(options);
  } catch (err) {
    expect(err).to.be.instanceOf(DagDefinitionError);
    return err as DagDefinitionError;
  }
  throw new Error(`expected an import error for ${JSON.stringify(options)}`);
}

interface DagRow {
  args: {
    schedule: string | null | { seconds: number };
    start_date?: { local: string; tz: string | null };
    catchup?: boolean;
    max_active_runs?: number;
  };
  result?: {
    timetable_class: string;
    serialized: Record<string, unknown>;
    summary: string;
    timezone: string;
    start_date: string | null;
    catchup: boolean;
    max_active_runs: number;
  };
  error?: string;
}

const CLASS_TYPES: Record<string, string> = {
  NullTimetable: 'null',
  OnceTimetable: 'once',
  ContinuousTimetable: 'continuous',
  CronTriggerTimetable: 'cron_trigger',
  DeltaTriggerTimetable: 'delta_trigger',
};

describe('dag() scheduling options', () => {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { airflow_version: string; dags: DagRow[] };

  describe(`as Airflow ${fixture.airflow_version}'s DAG() resolves them`, () => {
    for (const row of fixture.dags) {
      it(JSON.stringify(row.args), () => {
        const a = row.args;
        const options: Omit<DagOptions, 'dagId'> = {
          schedule: a.schedule !== null && typeof a.schedule === 'object' ? a.schedule.seconds : a.schedule,
          ...(a.start_date
            ? { startDate: a.start_date.local, ...(a.start_date.tz ? { timezone: a.start_date.tz } : {}) }
            : {}),
          ...(a.catchup !== undefined ? { catchup: a.catchup } : {}),
          ...(a.max_active_runs !== undefined ? { maxActiveRuns: a.max_active_runs } : {}),
        };
        // Two deliberate differences: '@continuous' defaults max_active_runs to 1 instead of
        // failing on Airflow's default of 16, and a cron that can never fire is an import error
        // (Airflow accepts it and the scheduler then logs an error on every loop).
        if (a.schedule === '@continuous' && a.max_active_runs === undefined) {
          expect(row.error).to.match(/max_active_runs <= 1/);
          expect(compile(options)).to.include({ max_active_runs: 1 });
          return;
        }
        if (a.schedule === '0 0 30 2 *') {
          expect(row.result?.timetable_class).to.equal('CronTriggerTimetable');
          expect(compileError(options).message).to.contain('never fires');
          return;
        }
        if (row.error) {
          const err = compileError(options);
          expect(err.field, `${row.error} → ${err.message}`).to.be.oneOf(['schedule', 'catchup', 'maxActiveRuns']);
          return;
        }
        const r = row.result!;
        const spec = compile(options);
        const type = CLASS_TYPES[r.timetable_class];
        expect(type, r.timetable_class).to.be.a('string');
        if (type === 'null') expect(spec.timetable).to.equal(undefined);
        else expect(spec.timetable).to.deep.equal({ type, ...r.serialized });
        expect(timetableFromSpec(spec.timetable).summary).to.equal(r.summary);
        expect(spec.timezone ?? 'UTC').to.equal(r.timezone);
        expect(spec.start_date).to.equal(r.start_date);
        expect(spec.catchup).to.equal(r.catchup);
        expect(spec.max_active_runs).to.equal(r.max_active_runs);
      });
    }
  });

  it('keeps DAGs without a schedule as they were (no timetable, timezone or pause keys)', () => {
    const spec = compile({});
    expect(spec).to.include({ schedule: null, start_date: null, end_date: null, catchup: false, max_active_runs: 16 });
    expect(spec).not.to.have.any.keys('timetable', 'timezone', 'is_paused_upon_creation');
  });

  it('fires a Europe/Amsterdam DAG at local time across both DST changes', () => {
    const spec = compile({
      schedule: '30 2 * * *',
      startDate: '2025-03-29',
      timezone: 'Europe/Amsterdam',
      catchup: true,
      isPausedUponCreation: false,
    });
    expect(spec).to.include({
      start_date: '2025-03-28T23:00:00.000Z',
      timezone: 'Europe/Amsterdam',
      is_paused_upon_creation: false,
      schedule: '30 2 * * *',
    });
    const runs = nextExecutions(timetableFromSpec(spec.timetable), {
      restriction: restrictionOf(spec),
      last: null,
      now: new Date('2025-01-01T00:00:00Z'),
      count: 3,
    });
    // 02:30 does not exist on 30 March: Airflow (pendulum) moves it to 03:30 CEST.
    expect(runs.map((r) => r.run_after.toISOString())).to.deep.equal([
      '2025-03-29T01:30:00.000Z',
      '2025-03-30T01:30:00.000Z',
      '2025-03-31T00:30:00.000Z',
    ]);
    expect(runs[0]!.run_id).to.equal('scheduled__2025-03-29T01:30:00+00:00');
  });

  it('takes the time zone from an offset written in startDate, and reads dates without one in the DAG zone', () => {
    expect(compile({ schedule: '@daily', startDate: '2025-01-01T00:00:00+01:00' })).to.include({
      timezone: '+01:00',
      start_date: '2024-12-31T23:00:00.000Z',
    });
    expect(compile({ schedule: '@daily', startDate: '2025-01-01T00:00:00Z' })).not.to.have.key('timezone');
    expect(
      compile({
        schedule: '@daily',
        startDate: '2025-07-01 06:00',
        endDate: '2025-07-31',
        timezone: 'America/New_York',
      }),
    ).to.include({
      start_date: '2025-07-01T10:00:00.000Z',
      end_date: '2025-07-31T04:00:00.000Z',
    });
    expect(compile({ schedule: '@daily', startDate: new Date('2025-01-01T00:00:00Z') }).start_date).to.equal(
      '2025-01-01T00:00:00.000Z',
    );
  });

  it('compiles durations, explicit timetables and asset conditions', () => {
    expect(compile({ schedule: '1h' })).to.deep.include({
      schedule: '1h',
      timetable: { type: 'delta_trigger', delta: 3600, interval: 0 },
    });
    expect(compile({ schedule: 5400 })).to.deep.include({
      schedule: '1:30:00',
      timetable: { type: 'delta_trigger', delta: 5400, interval: 0 },
    });
    expect(
      compile({
        schedule: CronTriggerTimetable('0 2 * * *', { interval: '1d', runImmediately: '10m' }),
        timezone: 'Europe/Amsterdam',
      }).timetable,
    ).to.deep.equal({
      type: 'cron_trigger',
      expression: '0 2 * * *',
      timezone: 'Europe/Amsterdam',
      interval: 86400,
      run_immediately: 600,
    });
    expect(
      compile({ schedule: MultipleCronTriggerTimetable(['0 9 * * *', '30 17 * * MON-FRI'], { timezone: 'UTC' }) }),
    ).to.deep.include({
      schedule: '0 9 * * *, 30 17 * * MON-FRI',
      timetable: {
        type: 'multiple_cron_trigger',
        expressions: ['0 9 * * *', '30 17 * * MON-FRI'],
        timezone: 'UTC',
        interval: 0,
        run_immediately: false,
      },
    });
    expect(
      compile({ schedule: CronDataIntervalTimetable('@daily', { timezone: 'America/New_York' }) }).timetable,
    ).to.deep.equal({ type: 'cron_data_interval', expression: '@daily', timezone: 'America/New_York' });
    expect(compile({ schedule: DeltaTriggerTimetable('6h', { interval: '6h' }) }).timetable).to.deep.equal({
      type: 'delta_trigger',
      delta: 21600,
      interval: 21600,
    });
    expect(compile({ schedule: DeltaDataIntervalTimetable(86400) }).schedule).to.equal('1 day, 0:00:00');
    expect(
      compile({
        schedule: EventsTimetable(['2025-06-01T09:00', '2025-03-01T09:00:00Z'], { restrictToEvents: true }),
        timezone: 'Europe/Amsterdam',
      }),
    ).to.deep.include({
      schedule: '2 events',
      timetable: {
        type: 'events',
        event_dates: ['2025-03-01T09:00:00.000Z', '2025-06-01T07:00:00.000Z'],
        restrict_to_events: true,
        description: null,
      },
    });
    const a = { uri: 's3://bucket/a' };
    const b = { uri: 's3://bucket/b', name: 'b' };
    const c = { uri: 's3://bucket/c' };
    expect(compile({ schedule: [a, b] })).to.deep.include({
      schedule: 's3://bucket/a & s3://bucket/b',
      timetable: {
        type: 'assets',
        condition: {
          type: 'all',
          conditions: [
            { type: 'asset', uri: a.uri, name: a.uri },
            { type: 'asset', uri: b.uri, name: 'b' },
          ],
        },
      },
    });
    expect(compile({ schedule: AssetAll(a, AssetAny(b, c)) }).schedule).to.equal(
      's3://bucket/a & (s3://bucket/b | s3://bucket/c)',
    );
  });

  describe('bad input is an import error naming the DAG and the field', () => {
    const cases: Array<[string, Omit<DagOptions, 'dagId'>, string, RegExp]> = [
      [
        'an invalid cron',
        { schedule: '61 * * * *' },
        'schedule',
        /^DAG "sched": schedule: invalid cron expression '61 \* \* \* \*': 61 is out of range 0-59 for the minute field$/,
      ],
      ['too few fields', { schedule: '0 0 * *' }, 'schedule', /expected 5 fields .* got 4 fields/],
      [
        "Quartz's 5L",
        { schedule: '0 0 * * 5L' },
        'schedule',
        /croniter writes the last given weekday of the month as 'L5'/,
      ],
      [
        'an unknown preset',
        { schedule: '@fortnightly' },
        'schedule',
        /unknown preset '@fortnightly' \(expected one of @once, @continuous, @hourly/,
      ],
      ['a cron that never fires', { schedule: '0 0 31 4,6 *' }, 'schedule', /never fires/],
      ['a zero duration', { schedule: 0 }, 'schedule', /schedule interval must be positive/],
      [
        'endDate before startDate',
        { schedule: '@daily', startDate: '2025-02-01', endDate: '2025-01-01' },
        'endDate',
        /endDate \(2025-01-01T00:00:00.000Z\) is before startDate \(2025-02-01T00:00:00.000Z\)/,
      ],
      [
        'a time zone that does not exist',
        { schedule: '@daily', timezone: 'Europe/Atlantis' },
        'timezone',
        /^DAG "sched": timezone: unknown time zone 'Europe\/Atlantis'/,
      ],
      [
        "a timetable's zone that does not exist",
        { schedule: CronTriggerTimetable('@daily', { timezone: 'Mars/Olympus' }) },
        'schedule',
        /unknown time zone 'Mars\/Olympus'/,
      ],
      [
        'maxActiveRuns 0',
        { schedule: '@daily', maxActiveRuns: 0 },
        'maxActiveRuns',
        /expected a positive integer, got 0/,
      ],
      [
        '@continuous with 2 active runs',
        { schedule: '@continuous', maxActiveRuns: 2 },
        'maxActiveRuns',
        /at most 1 active run, got 2/,
      ],
      [
        'catchup without a start date',
        { schedule: '@daily', catchup: true },
        'catchup',
        /a start date is required when catchup is true/,
      ],
      ['a bad startDate', { schedule: '@daily', startDate: '2025-02-30' }, 'startDate', /expected an ISO 8601 date/],
      ['an asset list naming nothing', { schedule: [] }, 'schedule', /'all' needs at least one asset or condition/],
      [
        'an asset without a uri',
        { schedule: AssetAny({ uri: '' }) },
        'schedule',
        /conditions\[0\]: an asset needs a non-empty uri/,
      ],
      ['a schedule of the wrong type', { schedule: true as never }, 'schedule', /expected a cron expression, a preset/],
      [
        'a bad timetable interval',
        { schedule: CronTriggerTimetable('@daily', { interval: 'soon' }) },
        'schedule',
        /interval: expected a duration/,
      ],
    ];
    for (const [what, options, field, message] of cases) {
      it(what, () => {
        const err = compileError(options);
        expect(err.message).to.match(message);
        expect(err).to.include({ dagId: 'sched', field });
      });
    }
  });
});
