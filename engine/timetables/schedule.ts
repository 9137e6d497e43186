/**
 * Plain `schedule` values to timetables, as Airflow 3's DAG does it (`_create_timetable` with
 * the default config): None → NullTimetable, '@once', '@continuous', a cron string or preset →
 * CronTriggerTimetable in the DAG's time zone, a duration (Airflow's timedelta) →
 * DeltaTriggerTimetable (Airflow 3.x's create_delta_data_intervals=False).
 */
import type { TimetableSpec } from '../../spec/dag-spec.js';
import { AIRFLOW_CRON_PRESETS, cron } from './cron.js';
import { CronSyntaxError, TimetableError } from './errors.js';
import { zone } from './zone.js';

/** The presets Airflow names (its docs' list), for messages. */
export const SCHEDULE_PRESETS = [
  '@once',
  '@continuous',
  ...Object.keys(AIRFLOW_CRON_PRESETS),
  '@annually',
  '@midnight',
] as const;

/** A duration written with a unit ('1h', '90 minutes', '1.5d'): a timedelta schedule, not a cron string. */
const DURATION_STRING = /^\s*\d+(\.\d+)?\s*[a-zA-Z]+\s*$/;

export function isDurationString(value: string): boolean {
  return DURATION_STRING.test(value) && !value.trim().startsWith('@');
}

/**
 * The timetable of a cron string or preset in a time zone; throws CronSyntaxError (unknown
 * preset, bad field) or TimetableError (unknown zone).
 */
export function cronTimetable(expression: string, timezone: string): TimetableSpec {
  if (expression === '@once') return { type: 'once' };
  if (expression === '@continuous') return { type: 'continuous' };
  zone(timezone);
  if (expression.trim().startsWith('@')) {
    const known =
      AIRFLOW_CRON_PRESETS[expression] !== undefined ||
      ['@annually', '@midnight', '@hourly', '@daily', '@weekly', '@monthly', '@yearly'].includes(
        expression.trim().toLowerCase(),
      );
    if (!known)
      throw new CronSyntaxError(
        `unknown preset '${expression}' (expected one of ${SCHEDULE_PRESETS.join(', ')}, a cron expression like '0 2 * * *', or null)`,
        expression,
      );
  }
  const parsed = cron(expression);
  return { type: 'cron_trigger', expression: parsed.summary, timezone, interval: 0, run_immediately: false };
}

/** A timedelta schedule of `seconds`. */
export function deltaTimetable(seconds: number): TimetableSpec {
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new TimetableError(`schedule interval must be positive, not ${String(seconds)} seconds`, 'schedule');
  return { type: 'delta_trigger', delta: seconds, interval: 0 };
}
