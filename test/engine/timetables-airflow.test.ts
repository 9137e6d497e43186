/**
 * Updraft's timetable engine against the tables real Apache Airflow produced
 * (test/fixtures/timetables/generate.py → airflow-timetables.json): every cron expression's
 * verdict and next/prev times, every next_dagrun_info step, manual data intervals, summaries,
 * backfill windows and run ids must be equal, row by row.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CronExpression } from '../../engine/timetables/cron.js';
import { BackfillRangeError, CronNoMatchError, CronSyntaxError } from '../../engine/timetables/errors.js';
import { backfillRuns, runIdFor } from '../../engine/timetables/runs.js';
import { timetableFromSpec, type DagRunInfo, type TimeRestriction } from '../../engine/timetables/timetables.js';
import type { TimetableSpec } from '../../spec/dag-spec.js';

const FIXTURE = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'timetables', 'airflow-timetables.json');

interface InfoRow {
  run_after: string;
  logical_date: string | null;
  data_interval_start: string | null;
  data_interval_end: string | null;
  run_id: string;
}
interface Fixture {
  airflow_version: string;
  croniter_version: string;
  cron: Array<{
    expression: string;
    valid: boolean;
    error?: string;
    expanded_hour_is_star?: boolean;
    runs?: Array<{ start: string; next?: string[]; prev?: string[]; error?: string }>;
  }>;
  timetables: Array<{
    name: string;
    timetable: TimetableSpec;
    restriction: { earliest: string | null; latest: string | null; catchup: boolean };
    now: string;
    steps: Array<{ last: { start: string; end: string } | null; info: InfoRow | null }>;
    summary: string;
    periodic: boolean;
    can_be_scheduled: boolean;
    active_runs_limit: number | null;
    manual: Array<{ run_after: string; start: string; end: string }>;
  }>;
  backfills: Array<{
    name: string;
    timetable: TimetableSpec;
    from_date: string;
    to_date: string;
    reverse: boolean;
    now: string;
    runs: InfoRow[];
  }>;
}

const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;

const naive = (s: string): number => Date.parse(`${s}Z`);
const naiveIso = (t: number): string => new Date(t).toISOString().slice(0, 19);
const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);
const date = (s: string | null): Date | null => (s === null ? null : new Date(s));

function row(info: DagRunInfo | null, type: 'scheduled' | 'backfill'): InfoRow | null {
  if (!info) return null;
  return {
    run_after: iso(info.run_after)!,
    logical_date: iso(info.logical_date),
    data_interval_start: iso(info.data_interval?.start),
    data_interval_end: iso(info.data_interval?.end),
    run_id: runIdFor(type, info.run_after),
  };
}

describe(`timetables match Apache Airflow ${fixture.airflow_version} (croniter ${fixture.croniter_version})`, () => {
  it('has the tables', () => {
    expect(fixture.cron.length).to.be.greaterThan(90);
    expect(fixture.timetables.length).to.be.greaterThan(400);
    expect(fixture.backfills.length).to.be.greaterThan(100);
  });

  describe('cron expressions', () => {
    for (const c of fixture.cron) {
      const sevenFields = c.expression.trim().split(/\s+/).length === 7;
      it(`${JSON.stringify(c.expression)}: ${c.valid ? 'valid' : 'rejected'}`, () => {
        if (!c.valid || sevenFields) {
          // croniter's 7-field year form is the one thing croniter accepts that Updraft rejects.
          expect(() => new CronExpression(c.expression), c.error ?? '7-field').to.throw(CronSyntaxError);
          return;
        }
        const expr = new CronExpression(c.expression);
        expect(expr.coversEveryHour, 'hour field expands to *').to.equal(c.expanded_hour_is_star);
        for (const run of c.runs ?? []) {
          const start = naive(run.start);
          if (run.error) {
            expect(() => {
              for (let t = start, i = 0; i < 6; i++) t = expr.next(t);
              for (let t = start, i = 0; i < 4; i++) t = expr.prev(t);
            }, `${run.start}: ${run.error}`).to.throw(CronNoMatchError);
            continue;
          }
          const next: string[] = [];
          for (let t = start, i = 0; i < 6; i++) next.push(naiveIso((t = expr.next(t))));
          const prev: string[] = [];
          for (let t = start, i = 0; i < 4; i++) prev.push(naiveIso((t = expr.prev(t))));
          expect(next, `next from ${run.start}`).to.deep.equal(run.next);
          expect(prev, `prev from ${run.start}`).to.deep.equal(run.prev);
        }
      });
    }
  });

  describe('next_dagrun_info', () => {
    for (const c of fixture.timetables) {
      it(c.name, () => {
        const tt = timetableFromSpec(c.timetable);
        expect({
          summary: tt.summary,
          periodic: tt.periodic,
          can_be_scheduled: tt.canBeScheduled,
          active_runs_limit: tt.activeRunsLimit,
        }).to.deep.equal({
          summary: c.summary,
          periodic: c.periodic,
          can_be_scheduled: c.can_be_scheduled,
          active_runs_limit: c.active_runs_limit,
        });
        const restriction: TimeRestriction = {
          earliest: date(c.restriction.earliest),
          latest: date(c.restriction.latest),
          catchup: c.restriction.catchup,
        };
        c.steps.forEach((step, i) => {
          const last = step.last ? { start: new Date(step.last.start), end: new Date(step.last.end) } : null;
          const info = tt.nextDagrunInfo({ lastAutomatedDataInterval: last, restriction, now: new Date(c.now) });
          expect(row(info, 'scheduled'), `step ${i + 1} after ${JSON.stringify(step.last)}`).to.deep.equal(step.info);
        });
        for (const m of c.manual) {
          const di = tt.inferManualDataInterval(new Date(m.run_after));
          expect({ start: iso(di.start), end: iso(di.end) }, `manual run at ${m.run_after}`).to.deep.equal({
            start: m.start,
            end: m.end,
          });
        }
      });
    }
  });

  describe('backfill date ranges', () => {
    for (const c of fixture.backfills) {
      it(c.name, () => {
        const tt = timetableFromSpec(c.timetable);
        const args = {
          fromDate: new Date(c.from_date),
          toDate: new Date(c.to_date),
          reverse: c.reverse,
          now: new Date(c.now),
        };
        if (args.fromDate >= args.now && args.toDate >= args.now) {
          // Airflow's _validate_backfill_params refuses this before listing any run.
          expect(c.runs).to.deep.equal([]);
          expect(() => backfillRuns(tt, args)).to.throw(BackfillRangeError, 'future dates');
          return;
        }
        expect(backfillRuns(tt, args).map((r) => row(r, 'backfill'))).to.deep.equal(c.runs);
      });
    }
  });
});
