/**
 * The scheduler's plan, pure: which runs are due and which fire times the Temporal Schedule gets,
 * for catchup on and off, across a DST change and up to end_date; a fire time as a calendar entry;
 * Airflow's reprocess rules for a backfill date that already has a run; a @continuous DAG's next
 * run and its one-fire Schedule while start_date is ahead.
 */
import { expect } from 'chai';
import { reprocessDecision } from '../../client/backfill.js';
import { isContinuous, nextContinuousRun } from '../../client/continuous.js';
import { calendarAt, isClockScheduled, planContinuousSchedule, planSchedule } from '../../client/schedules.js';
import { cronTimetable } from '../../engine/timetables/index.js';

const iso = (d: Date): string => d.toISOString();

describe('scheduler plan: due runs and Schedule fire times', function () {
  const amsterdam = {
    timetable: cronTimetable('30 2 * * *', 'Europe/Amsterdam'),
    start_date: '2025-03-25T00:00:00Z',
    end_date: null,
  };

  it('catchup off: only the latest missed run is due; the next ones follow local time across DST', function () {
    const plan = planSchedule({ ...amsterdam, catchup: false }, null, new Date('2025-03-28T12:00:00Z'), 4);
    expect(plan.due.map((r) => r.run_id)).to.deep.equal(['scheduled__2025-03-28T01:30:00+00:00']);
    // 02:30 does not exist on 30 March in Amsterdam: Airflow fires at 03:30 CEST (01:30 UTC); then 00:30 UTC.
    expect(plan.upcoming.map((r) => iso(r.run_after))).to.deep.equal([
      '2025-03-29T01:30:00.000Z',
      '2025-03-30T01:30:00.000Z',
      '2025-03-31T00:30:00.000Z',
      '2025-04-01T00:30:00.000Z',
    ]);
  });

  it('catchup on: every run since start_date is due, oldest first', function () {
    const plan = planSchedule({ ...amsterdam, catchup: true }, null, new Date('2025-03-28T12:00:00Z'), 1);
    expect(plan.due.map((r) => iso(r.run_after))).to.deep.equal([
      '2025-03-25T01:30:00.000Z',
      '2025-03-26T01:30:00.000Z',
      '2025-03-27T01:30:00.000Z',
      '2025-03-28T01:30:00.000Z',
    ]);
    const after = planSchedule(
      { ...amsterdam, catchup: true },
      plan.due[3]!.data_interval,
      new Date('2025-03-28T12:00:00Z'),
      1,
    );
    expect(after.due).to.deep.equal([]);
  });

  it('stops at end_date (no fire times left: the Schedule is deleted)', function () {
    const plan = planSchedule(
      { ...amsterdam, end_date: '2025-03-29T12:00:00Z', catchup: false },
      null,
      new Date('2025-03-28T12:00:00Z'),
      5,
    );
    expect(plan.upcoming.map((r) => r.run_id)).to.deep.equal(['scheduled__2025-03-29T01:30:00+00:00']);
    expect(
      planSchedule(
        { ...amsterdam, end_date: '2025-03-29T12:00:00Z', catchup: false },
        plan.upcoming[0]!.data_interval,
        new Date('2025-03-30T12:00:00Z'),
      ).upcoming,
    ).to.deep.equal([]);
  });

  it('a fire time is one UTC calendar entry, rounded up to the second', function () {
    expect(calendarAt(new Date('2025-03-30T01:30:00.250Z'), 'c')).to.deep.equal({
      year: 2025,
      month: 'MARCH',
      dayOfMonth: 30,
      hour: 1,
      minute: 30,
      second: 1,
      dayOfWeek: '*',
      comment: 'c',
    });
  });

  it('only time-based schedules get a Schedule', function () {
    expect(isClockScheduled({ timetable: amsterdam.timetable })).to.equal(true);
    expect(isClockScheduled({})).to.equal(false);
    expect(isClockScheduled({ timetable: { type: 'continuous' } })).to.equal(false);
  });

  it('@continuous: each run starts where the previous ended and runs until now; start_date ahead is one fire', function () {
    const spec = {
      timetable: { type: 'continuous' } as const,
      start_date: '2025-01-01T00:00:00Z',
      end_date: '2025-01-02T00:00:00Z',
      catchup: false,
    };
    expect(isContinuous(spec)).to.equal(true);
    expect(isContinuous(amsterdam)).to.equal(false);
    const now = new Date('2025-01-01T10:00:00.250Z');
    const firstRun = nextContinuousRun(spec, null, now)!;
    expect([
      iso(firstRun.data_interval!.start),
      iso(firstRun.data_interval!.end),
      iso(firstRun.run_after),
    ]).to.deep.equal(['2025-01-01T00:00:00.000Z', '2025-01-01T10:00:00.250Z', '2025-01-01T10:00:00.250Z']);
    expect(firstRun.logical_date).to.deep.equal(firstRun.data_interval!.start);
    expect(firstRun.run_id).to.equal('scheduled__2025-01-01T10:00:00.250000+00:00');
    const later = new Date('2025-01-01T10:00:03Z');
    const second = nextContinuousRun(spec, firstRun.data_interval, later)!;
    expect([iso(second.data_interval!.start), iso(second.run_after)]).to.deep.equal([
      '2025-01-01T10:00:00.250Z',
      '2025-01-01T10:00:03.000Z',
    ]);
    // Nothing is ever "upcoming" once it started: a run's end starts the next, not the Schedule.
    expect(planContinuousSchedule(spec, firstRun.data_interval, later).upcoming).to.deep.equal([]);
    // end_date passed: no further run.
    expect(nextContinuousRun(spec, second.data_interval, new Date('2025-01-02T00:00:01Z'))).to.equal(null);
    // Before start_date: the first run is due at start_date, the Schedule's one fire time.
    const early = planContinuousSchedule(spec, null, new Date('2024-12-31T23:00:00Z'));
    expect(early.upcoming.map((r) => [iso(r.run_after), r.run_id])).to.deep.equal([
      ['2025-01-01T00:00:00.000Z', 'scheduled__2025-01-01T00:00:00+00:00'],
    ]);
    expect(early.due).to.deep.equal([]);
  });

  it("a backfill date with a run follows Airflow's reprocess behaviours", function () {
    const decide = (state: string, b: 'none' | 'failed' | 'completed') =>
      reprocessDecision({ run_id: 'r', state }, b).action;
    expect(['queued', 'running'].map((s) => decide(s, 'completed'))).to.deep.equal(['skip', 'skip']);
    expect([decide('failed', 'none'), decide('failed', 'failed'), decide('failed', 'completed')]).to.deep.equal([
      'skip',
      'reprocess',
      'reprocess',
    ]);
    expect([decide('success', 'none'), decide('success', 'failed'), decide('success', 'completed')]).to.deep.equal([
      'skip',
      'skip',
      'reprocess',
    ]);
  });
});
