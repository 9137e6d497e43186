/**
 * Explicit timetables and asset conditions for `schedule` (Airflow's names, arguments in
 * camelCase):
 *
 *   schedule: CronTriggerTimetable('0 2 * * *', { timezone: 'Europe/Amsterdam', interval: '1d' })
 *   schedule: MultipleCronTriggerTimetable(['0 9 * * *', '30 17 * * MON-FRI'], { timezone: 'UTC' })
 *   schedule: DeltaDataIntervalTimetable('6h')
 *   schedule: EventsTimetable(['2025-03-01T09:00:00Z', '2025-06-01T09:00:00Z'], { restrictToEvents: true })
 *   schedule: [rawData, features]                 // both updated (Airflow's list of assets)
 *   schedule: AssetAll(a, AssetAny(b, c))         // a & (b | c)
 *
 * A timetable without `timezone` uses the DAG's time zone (Airflow requires one on the class).
 */
import { toSeconds, type Duration } from './duration.js';
import { fromWall, zone } from '../engine/timetables/zone.js';
import { sanitizeAssetUri } from '../engine/assets/asset.js';
import type { AssetLike } from './asset.js';
import type { AssetConditionSpec, TimetableSpec } from '../spec/dag-spec.js';

const TIMETABLE = Symbol.for('updraft.timetable');
const CONDITION = Symbol.for('updraft.asset_condition');

/** A timetable for `schedule`; made by the constructors below. */
export interface TimetableDefinition {
  readonly [TIMETABLE]: true;
  /** Airflow's class name. */
  readonly className: string;
  /** The spec in the DAG's time zone; throws Error with the bad argument's name. */
  build(dagTimezone: string): TimetableSpec;
}

/** An asset condition made by AssetAll / AssetAny. */
export interface AssetCondition {
  readonly [CONDITION]: true;
  readonly spec: AssetConditionSpec;
}

/** What `schedule` takes: null, a cron string or preset, a duration ('1h', 3600), a timetable, or assets. */
export type Schedule =
  string | number | null | TimetableDefinition | AssetLike | AssetCondition | ReadonlyArray<AssetLike | AssetCondition>;

export function isTimetableDefinition(v: unknown): v is TimetableDefinition {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[TIMETABLE] === true;
}

export function isAssetCondition(v: unknown): v is AssetCondition {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[CONDITION] === true;
}

function definition(className: string, build: (dagTimezone: string) => TimetableSpec): TimetableDefinition {
  return { [TIMETABLE]: true, className, build };
}

function seconds(value: Duration | undefined, argument: string, fallback: number): number {
  if (value === undefined) return fallback;
  try {
    return toSeconds(value);
  } catch (err) {
    throw new Error(`${argument}: ${(err as Error).message}`);
  }
}

export interface CronTriggerOptions {
  /** @default the DAG's time zone */
  timezone?: string;
  /** How far data_interval_start lies before the run time. @default 0 */
  interval?: Duration;
  /**
   * Without a start date, whether the first run is the latest past cron time: true, a duration
   * (within that of it), or false/null (within 10% of the gap, at least 5 minutes, as Airflow does).
   * @default false
   */
  runImmediately?: boolean | Duration | null;
}

function runImmediately(v: CronTriggerOptions['runImmediately']): boolean | number | null {
  if (v === undefined) return false;
  if (v === null || typeof v === 'boolean') return v;
  return seconds(v, 'runImmediately', 0);
}

/** A run at each cron time (Airflow 3's default for cron strings). */
export function CronTriggerTimetable(cron: string, options: CronTriggerOptions = {}): TimetableDefinition {
  return definition('CronTriggerTimetable', (tz) => ({
    type: 'cron_trigger',
    expression: cron,
    timezone: options.timezone ?? tz,
    interval: seconds(options.interval, 'interval', 0),
    run_immediately: runImmediately(options.runImmediately),
  }));
}

/** A run at each time of any of several crons (one run when they coincide). */
export function MultipleCronTriggerTimetable(
  crons: readonly string[],
  options: CronTriggerOptions = {},
): TimetableDefinition {
  return definition('MultipleCronTriggerTimetable', (tz) => {
    if (!Array.isArray(crons) || crons.length === 0)
      throw new Error('MultipleCronTriggerTimetable: expected at least one cron expression');
    return {
      type: 'multiple_cron_trigger',
      expressions: [...crons],
      timezone: options.timezone ?? tz,
      interval: seconds(options.interval, 'interval', 0),
      run_immediately: runImmediately(options.runImmediately),
    };
  });
}

/** Runs over [cron time, next cron time), each started when its interval ends (Airflow 2's cron behaviour). */
export function CronDataIntervalTimetable(cron: string, options: { timezone?: string } = {}): TimetableDefinition {
  return definition('CronDataIntervalTimetable', (tz) => ({
    type: 'cron_data_interval',
    expression: cron,
    timezone: options.timezone ?? tz,
  }));
}

/** A run every `delta` (Airflow 3's default for a timedelta schedule). */
export function DeltaTriggerTimetable(delta: Duration, options: { interval?: Duration } = {}): TimetableDefinition {
  return definition('DeltaTriggerTimetable', () => ({
    type: 'delta_trigger',
    delta: seconds(delta, 'delta', 0),
    interval: seconds(options.interval, 'interval', 0),
  }));
}

/** Runs over [t, t + delta), each started when its interval ends. */
export function DeltaDataIntervalTimetable(delta: Duration): TimetableDefinition {
  return definition('DeltaDataIntervalTimetable', () => ({
    type: 'delta_data_interval',
    delta: seconds(delta, 'delta', 0),
  }));
}

export interface EventsTimetableOptions {
  /** Manual runs take the most recent event (the first when all are later) as their date. @default false */
  restrictToEvents?: boolean;
  /** Shown as the schedule. @default '<n> events' */
  description?: string;
}

/**
 * Runs at listed instants. Dates are ISO strings (with 'Z' or an offset; without one, in the
 * DAG's time zone) or Date objects.
 */
export function EventsTimetable(
  eventDates: ReadonlyArray<string | Date>,
  options: EventsTimetableOptions = {},
): TimetableDefinition {
  return definition('EventsTimetable', (tz) => {
    if (!Array.isArray(eventDates)) throw new Error('EventsTimetable: eventDates must be a list of dates');
    const dates = eventDates.map((d, i) => toInstant(d, tz, `eventDates[${i}]`).toISOString()).sort();
    return {
      type: 'events',
      event_dates: dates,
      restrict_to_events: options.restrictToEvents ?? false,
      description: options.description ?? null,
    };
  });
}

/** All of the assets/conditions (Airflow's AssetAll, `a & b`; a list schedule means this). */
export function AssetAll(...members: Array<AssetLike | AssetCondition>): AssetCondition {
  return { [CONDITION]: true, spec: { type: 'all', conditions: members.map(assetConditionSpec) } };
}

/** Any of the assets/conditions (Airflow's AssetAny, `a | b`). */
export function AssetAny(...members: Array<AssetLike | AssetCondition>): AssetCondition {
  return { [CONDITION]: true, spec: { type: 'any', conditions: members.map(assetConditionSpec) } };
}

/** An asset or condition as spec (unchecked: engine/timetables/assets.ts checks it). */
export function assetConditionSpec(v: AssetLike | AssetCondition): AssetConditionSpec {
  if (isAssetCondition(v)) return v.spec;
  const a = v as Partial<AssetLike> | null;
  // Sanitized as Airflow's Asset() does, so `s3://b/raw/` here is the `s3://b/raw` of an outlet;
  // an empty or missing uri is left for checkAssetCondition to report.
  const uri =
    typeof a?.uri === 'string' && a.uri.trim() !== '' ? sanitizeAssetUri(a.uri, 'asset uri') : (a?.uri as string);
  return { type: 'asset', uri, name: a?.name ?? (a?.uri as string) };
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** The zone an ISO string's own offset names ('Z' → 'UTC', '+01:00'), if it has one. */
export function offsetZoneOf(value: string | Date | undefined): string | undefined {
  if (value instanceof Date) return 'UTC';
  const m = typeof value === 'string' ? ISO.exec(value.trim()) : null;
  const offset = m?.[8];
  if (!offset) return undefined;
  if (offset.toUpperCase() === 'Z') return 'UTC';
  const norm = offset.includes(':') ? offset : `${offset.slice(0, 3)}:${offset.slice(3)}`;
  return norm === '+00:00' || norm === '-00:00' ? 'UTC' : norm;
}

/** Wall-clock fields of an ISO string without an offset, or undefined when it has one. */
export function parseIsoParts(value: string): { wall: number; hasOffset: boolean } | undefined {
  const m = ISO.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, offset] = m;
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0), ms);
  if (
    date.getUTCMonth() !== Number(mo) - 1 ||
    date.getUTCDate() !== Number(d) ||
    Number(h ?? 0) > 23 ||
    Number(mi ?? 0) > 59 ||
    Number(s ?? 0) > 59
  )
    return undefined;
  return { wall: date.getTime(), hasOffset: offset !== undefined };
}

/**
 * A date option as an instant: a Date, an ISO string with an offset, or an ISO string without
 * one read as wall-clock time in `tz` (Airflow's DAG timezone; DST resolved as pendulum does).
 */
export function toInstant(value: string | Date, tz: string, argument: string): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new Error(`${argument}: invalid Date`);
    return value;
  }
  const parts = typeof value === 'string' ? parseIsoParts(value) : undefined;
  if (!parts)
    throw new Error(
      `${argument}: expected an ISO 8601 date like '2025-01-01' or '2025-01-01T02:30:00+01:00', got ${JSON.stringify(value)}`,
    );
  if (parts.hasOffset) return new Date(Date.parse(normalizeOffset(value.trim())));
  return new Date(fromWall(zone(tz), parts.wall));
}

function normalizeOffset(value: string): string {
  // Date.parse needs 'T' and '+HH:MM'; accept '2025-01-01 02:30+0100' as Python does.
  const withT = value.replace(' ', 'T');
  return withT.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
}
