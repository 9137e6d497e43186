/**
 * The compiler's part for scheduling options: schedule, startDate, endDate, catchup, timezone,
 * maxActiveRuns and isPausedUponCreation → the DagSpec's schedule fields, validated the way
 * Airflow's DAG validates them at import, plus what Airflow only finds out later (a cron that
 * never fires, end before start, max_active_runs below 1).
 */
import { formatAssetCondition, checkAssetCondition } from '../engine/timetables/assets.js';
import { cron } from '../engine/timetables/cron.js';
import { CronNoMatchError, TimetableError } from '../engine/timetables/errors.js';
import { cronTimetable, deltaTimetable, isDurationString } from '../engine/timetables/schedule.js';
import { formatTimedelta, timetableFromSpec } from '../engine/timetables/timetables.js';
import { toWall, zone, zoneProblem } from '../engine/timetables/zone.js';
import type { DagSpec, TimetableSpec } from '../spec/dag-spec.js';
import { toSeconds } from './duration.js';
import type { DagOptions } from './options.js';
import { assetConditionSpec, isAssetCondition, isTimetableDefinition, offsetZoneOf, toInstant } from './timetables.js';

type Fail = (message: string, taskId?: string, field?: string) => never;

export type ScheduleFields = Pick<
  DagSpec,
  | 'schedule'
  | 'start_date'
  | 'end_date'
  | 'catchup'
  | 'max_active_runs'
  | 'timetable'
  | 'timezone'
  | 'is_paused_upon_creation'
>;

/** Airflow's [core] max_active_runs_per_dag. */
const DEFAULT_MAX_ACTIVE_RUNS = 16;

export function compileSchedule(options: DagOptions, fail: Fail): ScheduleFields {
  const f =
    (field: string) =>
    (message: string): never =>
      fail(message, undefined, field);
  const tz = dagTimezone(options, f);
  const start = dateOption(options.startDate, tz, 'startDate', f('startDate'));
  const end = dateOption(options.endDate, tz, 'endDate', f('endDate'));
  if (start && end && end.getTime() < start.getTime()) {
    f('endDate')(
      `endDate (${end.toISOString()}) is before startDate (${start.toISOString()}); no run could ever be scheduled`,
    );
  }
  const { spec: timetable, display } = scheduleSpec(options.schedule, tz, f('schedule'));
  if (timetable) checkTimetable(timetable, start, f);
  const catchup = options.catchup ?? false;
  if (typeof catchup !== 'boolean') f('catchup')(`expected true or false, got ${String(catchup)}`);
  if (catchup && timetable && !start)
    f('catchup')('a start date is required when catchup is true (set startDate, or catchup: false)');
  const limit = timetable ? timetableFromSpec(timetable).activeRunsLimit : null;
  const maxActiveRuns = options.maxActiveRuns ?? limit ?? DEFAULT_MAX_ACTIVE_RUNS;
  if (!Number.isInteger(maxActiveRuns) || maxActiveRuns < 1)
    f('maxActiveRuns')(`expected a positive integer, got ${String(maxActiveRuns)}`);
  if (limit !== null && maxActiveRuns > limit) {
    f('maxActiveRuns')(
      `${display} schedules allow at most ${limit} active run${limit === 1 ? '' : 's'}, got ${maxActiveRuns} (leave maxActiveRuns unset or set it to ${limit})`,
    );
  }
  const paused = options.isPausedUponCreation;
  if (paused !== undefined && typeof paused !== 'boolean')
    f('isPausedUponCreation')(`expected true or false, got ${String(paused)}`);
  return {
    schedule: display,
    start_date: start ? start.toISOString() : null,
    end_date: end ? end.toISOString() : null,
    catchup,
    max_active_runs: maxActiveRuns,
    ...(timetable ? { timetable } : {}),
    ...(tz !== 'UTC' ? { timezone: tz } : {}),
    ...(paused !== undefined ? { is_paused_upon_creation: paused } : {}),
  };
}

/** The DAG's zone: `timezone`, else the offset written in startDate (Airflow takes start_date's tz), else UTC. */
function dagTimezone(options: DagOptions, f: (field: string) => (m: string) => never): string {
  if (options.timezone !== undefined) {
    const problem = zoneProblem(options.timezone);
    if (problem) f('timezone')(problem);
    return options.timezone;
  }
  return offsetZoneOf(options.startDate) ?? 'UTC';
}

function dateOption(
  value: string | Date | undefined,
  tz: string,
  field: string,
  bad: (m: string) => never,
): Date | null {
  if (value === undefined || value === null) return null;
  try {
    return toInstant(value, tz, field);
  } catch (err) {
    return bad((err as Error).message.replace(`${field}: `, ''));
  }
}

function scheduleSpec(
  value: DagOptions['schedule'],
  tz: string,
  bad: (m: string) => never,
): { spec: TimetableSpec | null; display: string | null } {
  try {
    if (value === undefined || value === null) return { spec: null, display: null };
    if (typeof value === 'string') {
      if (isDurationString(value)) return { spec: deltaTimetable(toSeconds(value)), display: value };
      return { spec: cronTimetable(value, tz), display: value };
    }
    if (typeof value === 'number') return { spec: deltaTimetable(value), display: formatTimedelta(value) };
    if (isTimetableDefinition(value)) {
      const spec = value.build(tz);
      return { spec, display: timetableFromSpec(spec).summary };
    }
    const condition = Array.isArray(value)
      ? checkAssetCondition({ type: 'all', conditions: value.map(assetConditionSpec) })
      : isAssetCondition(value) || (typeof value === 'object' && 'uri' in value)
        ? checkAssetCondition(assetConditionSpec(value as never))
        : bad(
            `expected a cron expression, a preset such as '@daily', a duration such as '1h', a timetable, assets, or null; got ${typeof value}`,
          );
    return { spec: { type: 'assets', condition }, display: formatAssetCondition(condition) };
  } catch (err) {
    if (err instanceof TimetableError || err instanceof Error) return bad(err.message.replace(/^schedule: ?/, ''));
    throw err;
  }
}

/**
 * Builds the timetable (bad zones, deltas, dates fail here) and checks that each cron fires at
 * least once within croniter's 50 years of the start (Airflow accepts '0 0 30 2 *' and then
 * never schedules it).
 */
function checkTimetable(spec: TimetableSpec, start: Date | null, f: (field: string) => (m: string) => never): void {
  try {
    timetableFromSpec(spec);
  } catch (err) {
    const field = err instanceof TimetableError && err.field === 'timezone' ? 'timezone' : 'schedule';
    f(field)((err as Error).message);
  }
  const crons =
    spec.type === 'cron_trigger' || spec.type === 'cron_data_interval'
      ? [spec.expression]
      : spec.type === 'multiple_cron_trigger'
        ? spec.expressions
        : [];
  const from = start ?? new Date(Date.UTC(2000, 0, 1));
  for (const expression of crons) {
    try {
      cron(expression).next(toWall(zone((spec as { timezone: string }).timezone), from.getTime()));
    } catch (err) {
      if (err instanceof CronNoMatchError)
        f('schedule')(
          `cron expression '${expression}' never fires (no match within 50 years of ${from.toISOString().slice(0, 10)}); check the day and month fields`,
        );
      throw err;
    }
  }
}
