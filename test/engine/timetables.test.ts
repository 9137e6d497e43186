/**
 * The timetable engine's own helpers (the Airflow tables cover the date arithmetic itself):
 * zones, run ids, next executions, catchup sequences, backfill checks and asset conditions.
 */
import { expect } from 'chai';
import {
  assetUris,
  checkAssetCondition,
  evaluateAssetCondition,
  formatAssetCondition,
} from '../../engine/timetables/assets.js';
import { BackfillRangeError, TimetableError } from '../../engine/timetables/errors.js';
import {
  backfillRuns,
  nextExecutions,
  pythonIsoUtc,
  runIdFor,
  scheduledRunsUntil,
} from '../../engine/timetables/runs.js';
import { formatTimedelta, timetableFromSpec } from '../../engine/timetables/timetables.js';
import { fromWall, toWall, zone, zoneProblem } from '../../engine/timetables/zone.js';
import type { AssetConditionSpec } from '../../spec/dag-spec.js';

const at = (s: string): Date => new Date(s);
const hourlyNewYork = timetableFromSpec({
  type: 'cron_trigger',
  expression: '0 * * * *',
  timezone: 'America/New_York',
  interval: 0,
  run_immediately: false,
});

describe('timetable engine', () => {
  describe('zones', () => {
    it('reads wall clocks and resolves DST as pendulum does (second occurrence, gaps move forward)', () => {
      const ams = zone('Europe/Amsterdam');
      expect(new Date(toWall(ams, Date.parse('2025-07-01T00:00:00Z'))).toISOString()).to.equal(
        '2025-07-01T02:00:00.000Z',
      );
      expect(new Date(fromWall(ams, Date.parse('2025-10-26T02:30:00Z'))).toISOString()).to.equal(
        '2025-10-26T01:30:00.000Z',
      );
      expect(new Date(fromWall(ams, Date.parse('2025-03-30T02:30:00Z'))).toISOString()).to.equal(
        '2025-03-30T01:30:00.000Z',
      );
      expect(new Date(fromWall(zone('+05:30'), Date.parse('2025-01-01T00:00:00Z'))).toISOString()).to.equal(
        '2024-12-31T18:30:00.000Z',
      );
    });

    it('names what is wrong with a zone', () => {
      expect(zoneProblem('America/New_York')).to.equal(undefined);
      expect(zoneProblem('Nowhere/City')).to.match(/unknown time zone 'Nowhere\/City' \(expected an IANA name/);
      expect(zoneProblem('+25:00')).to.match(/offset out of range/);
      expect(zoneProblem('')).to.match(/expected an IANA time zone name/);
      expect(() => zone('Nowhere/City'))
        .to.throw(TimetableError)
        .with.property('field', 'timezone');
    });
  });

  it("formats run ids and timedeltas as Airflow's Python does", () => {
    expect(runIdFor('scheduled', at('2025-01-01T00:00:00Z'))).to.equal('scheduled__2025-01-01T00:00:00+00:00');
    expect(runIdFor('backfill', at('2025-01-01T00:00:00.250Z'))).to.equal('backfill__2025-01-01T00:00:00.250000+00:00');
    expect(pythonIsoUtc(at('2025-06-15T12:34:56.789Z'))).to.equal('2025-06-15T12:34:56.789000+00:00');
    expect([30, 3600, 86400, 2 * 86400 + 61, 1.5].map(formatTimedelta)).to.deep.equal([
      '0:00:30',
      '1:00:00',
      '1 day, 0:00:00',
      '2 days, 0:01:01',
      '0:00:01.500000',
    ]);
  });

  it('lists the next executions: the restricted next run, then the following ones (dags next-execution)', () => {
    const runs = nextExecutions(hourlyNewYork, {
      restriction: { earliest: at('2025-11-02T04:30:00Z'), latest: null, catchup: true },
      last: null,
      now: at('2025-01-01T00:00:00Z'),
      count: 4,
    });
    // 01:00 EDT, 01:00 EST (the repeated hour fires twice), 02:00 EST.
    expect(runs.map((r) => r.run_after.toISOString())).to.deep.equal([
      '2025-11-02T05:00:00.000Z',
      '2025-11-02T06:00:00.000Z',
      '2025-11-02T07:00:00.000Z',
      '2025-11-02T08:00:00.000Z',
    ]);
    expect(runs.map((r) => r.logical_date?.toISOString())).to.deep.equal(runs.map((r) => r.run_after.toISOString()));
    expect(
      nextExecutions(timetableFromSpec({ type: 'once' }), {
        restriction: { earliest: at('2025-01-01T00:00:00Z'), latest: null, catchup: false },
        last: null,
        now: at('2026-01-01T00:00:00Z'),
        count: 3,
      }),
    ).to.have.length(1);
    expect(() =>
      nextExecutions(hourlyNewYork, {
        restriction: { earliest: null, latest: null, catchup: true },
        last: null,
        now: new Date(),
        count: 0,
      }),
    ).to.throw(TimetableError, 'num_executions');
  });

  it('lists the runs catchup creates up to a time, in order, and none twice', () => {
    const daily = timetableFromSpec({ type: 'cron_data_interval', expression: '@daily', timezone: 'UTC' });
    const runs = scheduledRunsUntil(daily, {
      restriction: { earliest: at('2025-01-01T00:00:00Z'), latest: null, catchup: true },
      last: null,
      now: at('2025-01-05T12:00:00Z'),
      until: at('2025-01-05T12:00:00Z'),
    });
    expect(runs.map((r) => r.run_id)).to.deep.equal(
      ['2025-01-02', '2025-01-03', '2025-01-04', '2025-01-05'].map((d) => `scheduled__${d}T00:00:00+00:00`),
    );
    expect(runs.map((r) => r.logical_date?.toISOString().slice(0, 10))).to.deep.equal([
      '2025-01-01',
      '2025-01-02',
      '2025-01-03',
      '2025-01-04',
    ]);
  });

  it("refuses backfills Airflow 3 refuses, with Airflow's reasons", () => {
    const now = at('2025-06-01T00:00:00Z');
    const args = { fromDate: at('2025-01-01T00:00:00Z'), toDate: at('2025-01-10T00:00:00Z'), reverse: false, now };
    expect(() => backfillRuns(timetableFromSpec({ type: 'once' }), args)).to.throw(BackfillRangeError, 'not periodic');
    expect(() => backfillRuns(hourlyNewYork, { ...args, fromDate: args.toDate, toDate: args.fromDate })).to.throw(
      BackfillRangeError,
      'must not be after to_date',
    );
    expect(() =>
      backfillRuns(hourlyNewYork, { ...args, reverse: true, dependsOnPast: true, reprocessBehavior: 'completed' }),
    ).to.throw(BackfillRangeError, 'cannot run backwards');
    expect(() => backfillRuns(hourlyNewYork, { ...args, dependsOnPast: true })).to.throw(
      BackfillRangeError,
      "set reprocess behavior to 'completed' or 'failed'",
    );
    const daily = timetableFromSpec({
      type: 'cron_trigger',
      expression: '@daily',
      timezone: 'UTC',
      interval: 0,
      run_immediately: false,
    });
    const forwards = backfillRuns(daily, { ...args, dependsOnPast: true, reprocessBehavior: 'failed' });
    expect(forwards.map((r) => r.run_id.slice(0, 20))).to.deep.equal(
      Array.from({ length: 10 }, (_, i) => `backfill__2025-01-${String(i + 1).padStart(2, '0')}`),
    );
    expect(backfillRuns(daily, { ...args, reverse: true }).map((r) => r.run_id)).to.deep.equal(
      forwards.map((r) => r.run_id).reverse(),
    );
  });

  describe('asset conditions', () => {
    const a: AssetConditionSpec = { type: 'asset', uri: 's3://a', name: 's3://a' };
    const b: AssetConditionSpec = { type: 'asset', uri: 's3://b', name: 'b' };
    const c: AssetConditionSpec = { type: 'asset', uri: 's3://c', name: 'c' };
    const cond: AssetConditionSpec = { type: 'all', conditions: [a, { type: 'any', conditions: [b, c] }] };

    it('evaluates a & (b | c) against the updated assets', () => {
      const table: Array<[string[], boolean]> = [
        [[], false],
        [['s3://a'], false],
        [['s3://b', 's3://c'], false],
        [['s3://a', 's3://b'], true],
        [['s3://a', 's3://c'], true],
        [['s3://a', 's3://b', 's3://c', 's3://x'], true],
      ];
      for (const [updated, fires] of table)
        expect(evaluateAssetCondition(cond, new Set(updated)), updated.join(',')).to.equal(fires);
      expect(assetUris(cond)).to.deep.equal(['s3://a', 's3://b', 's3://c']);
      expect(formatAssetCondition(cond)).to.equal('s3://a & (s3://b | s3://c)');
    });

    it('checks what a spec holds, naming the bad part', () => {
      expect(checkAssetCondition({ type: 'asset', uri: 'file:///x' })).to.deep.equal({
        type: 'asset',
        uri: 'file:///x',
        name: 'file:///x',
      });
      expect(() => checkAssetCondition({ type: 'any', conditions: [] })).to.throw(
        TimetableError,
        "schedule: 'any' needs at least one asset or condition",
      );
      expect(() => checkAssetCondition({ type: 'all', conditions: [a, { type: 'asset' }] })).to.throw(
        TimetableError,
        'schedule.conditions[1]: an asset needs a non-empty uri',
      );
      expect(() => checkAssetCondition({ type: 'xor', conditions: [a] })).to.throw(
        TimetableError,
        "unknown asset condition type 'xor'",
      );
      expect(() => checkAssetCondition([a])).to.throw(TimetableError, 'got an array');
    });
  });

  it('rejects bad timetable specs with the field named', () => {
    expect(() => timetableFromSpec({ type: 'delta_trigger', delta: -1, interval: 0 })).to.throw(
      TimetableError,
      'delta: expected a non-negative number',
    );
    expect(() =>
      timetableFromSpec({ type: 'events', event_dates: ['soon'], restrict_to_events: false, description: null }),
    ).to.throw(TimetableError, "event_dates[0] is not a date: 'soon'");
    expect(() =>
      timetableFromSpec({
        type: 'multiple_cron_trigger',
        expressions: [],
        timezone: 'UTC',
        interval: 0,
        run_immediately: false,
      }),
    ).to.throw(TimetableError, 'at least one cron');
    expect(() => timetableFromSpec({ type: 'sometimes' } as never)).to.throw(
      TimetableError,
      "unknown timetable type 'sometimes'",
    );
    expect(timetableFromSpec(undefined)).to.include({ summary: 'None', canBeScheduled: false, periodic: false });
  });
});
