/**
 * Airflow 3's timetables (airflow-core/src/airflow/timetables/*.py) as pure functions: given the
 * last automated run's data interval, the DAG's restriction (start_date, end_date, catchup) and
 * the current time, the next run's run_after, data interval and logical date, exactly as Airflow
 * computes them (checked row by row against tables made by real Airflow:
 * test/fixtures/timetables/). No clock is read here: `now` is an argument.
 */
import type { AssetConditionSpec, RunImmediately, TimetableSpec } from '../../spec/dag-spec.js';
import { cron, type CronExpression } from './cron.js';
import { TimetableError } from './errors.js';
import { fromWall, toWall, zone, type Zone } from './zone.js';

export interface DataInterval {
  start: Date;
  end: Date;
}

/** What the next run is: Airflow's DagRunInfo (logical_date is data_interval.start). */
export interface DagRunInfo {
  /** The earliest time the run may start (Airflow's run_after). */
  run_after: Date;
  data_interval: DataInterval | null;
  logical_date: Date | null;
}

/** Airflow's TimeRestriction: start_date, end_date (both inclusive) and catchup. */
export interface TimeRestriction {
  earliest: Date | null;
  latest: Date | null;
  catchup: boolean;
}

export interface NextRunArgs {
  /** The data interval of the DAG's latest scheduled or backfill run (manual runs do not count); null before the first. */
  lastAutomatedDataInterval: DataInterval | null;
  restriction: TimeRestriction;
  /** The current time (catchup=False, @continuous and first runs without a start date depend on it). */
  now: Date;
}

export interface Timetable {
  readonly spec: TimetableSpec;
  /** Airflow's timetable summary ('0 0 * * *', '1:00:00', '@once', 'None', ...). */
  readonly summary: string;
  /** False for None, @once, @continuous and asset schedules: backfill refuses them. */
  readonly periodic: boolean;
  /** False only for schedule=None. */
  readonly canBeScheduled: boolean;
  /** The most runs that may be active at once (1 for @continuous), else null. */
  readonly activeRunsLimit: number | null;
  /** Airflow's next_dagrun_info: the next automated run, or null when there is none. */
  nextDagrunInfo(args: NextRunArgs): DagRunInfo | null;
  /** Airflow's infer_manual_data_interval: the data interval of a run triggered at `runAfter`. */
  inferManualDataInterval(runAfter: Date): DataInterval;
}

// Internally instants are epoch milliseconds.
export interface Interval {
  start: number;
  end: number;
}
export interface Info {
  runAfter: number;
  interval: Interval;
}
export interface Restriction {
  earliest: number | null;
  latest: number | null;
  catchup: boolean;
}

const FIVE_MINUTES = 300_000;

abstract class Base implements Timetable {
  abstract readonly spec: TimetableSpec;
  abstract readonly summary: string;
  readonly periodic: boolean = true;
  readonly canBeScheduled: boolean = true;
  readonly activeRunsLimit: number | null = null;

  nextDagrunInfo(args: NextRunArgs): DagRunInfo | null {
    const last = args.lastAutomatedDataInterval;
    const r = args.restriction;
    const info = this.nextMs(
      last
        ? {
            start: ms(last.start, 'lastAutomatedDataInterval.start'),
            end: ms(last.end, 'lastAutomatedDataInterval.end'),
          }
        : null,
      {
        earliest: r.earliest ? ms(r.earliest, 'restriction.earliest') : null,
        latest: r.latest ? ms(r.latest, 'restriction.latest') : null,
        catchup: r.catchup,
      },
      ms(args.now, 'now'),
    );
    return info ? toDagRunInfo(info) : null;
  }

  inferManualDataInterval(runAfter: Date): DataInterval {
    const i = this.manualMs(ms(runAfter, 'runAfter'));
    return { start: new Date(i.start), end: new Date(i.end) };
  }

  /** next_dagrun_info on epoch milliseconds (for the engine's own callers). */
  abstract nextMs(last: Interval | null, r: Restriction, now: number): Info | null;
  /** infer_manual_data_interval on epoch milliseconds. */
  abstract manualMs(runAfter: number): Interval;
}

function ms(d: Date, what: string): number {
  const t = d instanceof Date ? d.getTime() : Number.NaN;
  if (Number.isNaN(t)) throw new TimetableError(`${what}: expected a valid Date, got ${String(d)}`, what);
  return t;
}

function toDagRunInfo(i: Info): DagRunInfo {
  return {
    run_after: new Date(i.runAfter),
    data_interval: { start: new Date(i.interval.start), end: new Date(i.interval.end) },
    logical_date: new Date(i.interval.start),
  };
}

const exact = (at: number): Info => ({ runAfter: at, interval: { start: at, end: at } });
const over = (start: number, end: number): Info => ({ runAfter: end, interval: { start, end } });

/** How a schedule steps from one time to the next (Airflow's CronMixin / DeltaMixin). */
interface Stepper {
  getNext(t: number): number;
  getPrev(t: number): number;
  alignToNext(t: number): number;
  alignToPrev(t: number): number;
}

/** CronMixin: croniter on the wall clock of the zone, with Airflow's DST handling. */
class CronStepper implements Stepper {
  constructor(
    readonly expr: CronExpression,
    readonly zone: Zone,
  ) {}

  getNext(t: number): number {
    const naive = toWall(this.zone, t);
    const scheduled = this.expr.next(naive);
    // Schedules that fire every hour step in absolute time so a repeated hour fires twice.
    if (!this.expr.coversEveryHour) return fromWall(this.zone, scheduled);
    return t + (scheduled - naive);
  }

  getPrev(t: number): number {
    const naive = toWall(this.zone, t);
    const scheduled = this.expr.prev(naive);
    if (!this.expr.coversEveryHour) return fromWall(this.zone, scheduled);
    return t - (naive - scheduled);
  }

  alignToNext(t: number): number {
    const next = this.getNext(t);
    return this.getPrev(next) !== t ? next : t;
  }

  alignToPrev(t: number): number {
    const prev = this.getPrev(t);
    return this.getNext(prev) !== t ? prev : t;
  }
}

/** DeltaMixin: fixed steps in absolute time; every time is "aligned". */
class DeltaStepper implements Stepper {
  constructor(readonly deltaMs: number) {}
  getNext(t: number): number {
    return t + this.deltaMs;
  }
  getPrev(t: number): number {
    return t - this.deltaMs;
  }
  alignToNext(t: number): number {
    return t;
  }
  alignToPrev(t: number): number {
    return t;
  }
}

/** _DataIntervalTimetable: a run per interval, started when the interval ends. */
abstract class DataIntervalTimetable extends Base {
  protected abstract readonly step: Stepper;
  protected abstract skipToLatest(earliest: number | null, now: number): number;

  nextMs(last: Interval | null, r: Restriction, now: number): Info | null {
    let earliest = r.earliest;
    if (!r.catchup) earliest = this.skipToLatest(earliest, now);
    else if (earliest !== null) earliest = this.step.alignToNext(earliest);
    let start: number;
    if (last === null) {
      if (earliest === null) return null;
      start = earliest;
    } else {
      const alignedEnd = this.step.alignToPrev(last.end);
      start = earliest !== null ? Math.max(alignedEnd, earliest) : alignedEnd;
      // A schedule change can realign onto the previous run's logical date; one step past it.
      if (start <= last.start) {
        start = this.step.getNext(start);
        if (start <= last.start)
          throw new TimetableError(`timetable did not advance past ${new Date(last.start).toISOString()}`, 'schedule');
      }
    }
    if (r.latest !== null && start > r.latest) return null;
    return over(start, this.step.getNext(start));
  }
}

class CronDataIntervalTimetable extends DataIntervalTimetable {
  readonly summary: string;
  protected readonly step: CronStepper;
  constructor(readonly spec: Extract<TimetableSpec, { type: 'cron_data_interval' }>) {
    super();
    this.step = new CronStepper(cron(spec.expression), zoneOf(spec.timezone));
    this.summary = this.step.expr.summary;
  }

  protected skipToLatest(earliest: number | null, now: number): number {
    const lastStart = this.step.getPrev(now);
    const nextStart = this.step.getNext(lastStart);
    let newStart: number;
    if (nextStart === now) newStart = lastStart;
    else if (nextStart > now) newStart = this.step.getPrev(lastStart);
    else throw new TimetableError('next schedule earlier than now', 'schedule');
    return earliest === null ? newStart : Math.max(newStart, this.step.alignToNext(earliest));
  }

  manualMs(runAfter: number): Interval {
    const end = this.step.alignToPrev(runAfter);
    return { start: this.step.getPrev(end), end };
  }
}

class DeltaDataIntervalTimetable extends DataIntervalTimetable {
  readonly summary: string;
  protected readonly step: DeltaStepper;
  constructor(readonly spec: Extract<TimetableSpec, { type: 'delta_data_interval' }>) {
    super();
    this.step = new DeltaStepper(deltaMs(spec.delta, 'delta'));
    this.summary = formatTimedelta(spec.delta);
  }

  protected skipToLatest(earliest: number | null, now: number): number {
    // Fixed deltas round down on the epoch grid (Airflow's _round), then one delta back.
    const d = this.step.deltaMs;
    const rounded = now - (((now % d) + d) % d);
    const newStart = this.step.getPrev(rounded);
    return earliest === null ? newStart : Math.max(newStart, earliest);
  }

  manualMs(runAfter: number): Interval {
    return { start: this.step.getPrev(runAfter), end: runAfter };
  }
}

/** _TriggerTimetable: a run at each schedule time; the data interval ends there. */
abstract class TriggerTimetable extends Base {
  protected abstract readonly step: Stepper;
  protected abstract readonly intervalMs: number;
  protected abstract calcFirstRun(now: number): number;

  nextMs(last: Interval | null, r: Restriction, now: number): Info | null {
    let next: number;
    if (r.catchup) {
      if (last !== null) next = this.step.getNext(last.end);
      else if (r.earliest === null) next = this.calcFirstRun(now);
      else next = this.step.alignToNext(r.earliest);
    } else {
      const candidates = [this.step.alignToPrev(now)];
      if (last !== null) candidates.push(this.step.getNext(last.end));
      else if (r.earliest === null) candidates.push(this.calcFirstRun(now));
      if (r.earliest !== null) candidates.push(this.step.alignToNext(r.earliest));
      next = Math.max(...candidates);
    }
    if (r.latest !== null && r.latest < next) return null;
    return over(next - this.intervalMs, next);
  }

  manualMs(runAfter: number): Interval {
    return { start: runAfter - this.intervalMs, end: runAfter };
  }
}

class CronTriggerTimetable extends TriggerTimetable {
  readonly summary: string;
  protected readonly step: CronStepper;
  protected readonly intervalMs: number;
  private readonly runImmediately: RunImmediately;

  constructor(readonly spec: Extract<TimetableSpec, { type: 'cron_trigger' }>) {
    super();
    this.step = new CronStepper(cron(spec.expression), zoneOf(spec.timezone));
    this.summary = this.step.expr.summary;
    this.intervalMs = durationMs(spec.interval, 'interval');
    this.runImmediately = checkRunImmediately(spec.run_immediately);
  }

  /**
   * No start date: the latest past time if run_immediately is true or now is within the buffer
   * of it (run_immediately seconds, else 10% of the gap between fires, at least 5 minutes; Airflow
   * applies that buffer for run_immediately=False too), else the next time.
   */
  protected calcFirstRun(now: number): number {
    const past = this.step.alignToPrev(now);
    const next = this.step.alignToNext(now);
    if (this.runImmediately === true) return past;
    const buffer =
      typeof this.runImmediately === 'number' ? this.runImmediately * 1000 : Math.max((next - past) / 10, FIVE_MINUTES);
    return now - past <= buffer ? past : next;
  }
}

class DeltaTriggerTimetable extends TriggerTimetable {
  readonly summary: string;
  protected readonly step: DeltaStepper;
  protected readonly intervalMs: number;
  constructor(readonly spec: Extract<TimetableSpec, { type: 'delta_trigger' }>) {
    super();
    this.step = new DeltaStepper(deltaMs(spec.delta, 'delta'));
    this.summary = formatTimedelta(spec.delta);
    this.intervalMs = durationMs(spec.interval, 'interval');
  }
  protected calcFirstRun(now: number): number {
    return this.step.alignToPrev(now);
  }
}

class MultipleCronTriggerTimetable extends Base {
  readonly summary: string;
  private readonly parts: CronTriggerTimetable[];
  constructor(readonly spec: Extract<TimetableSpec, { type: 'multiple_cron_trigger' }>) {
    super();
    if (!Array.isArray(spec.expressions) || spec.expressions.length === 0) {
      throw new TimetableError('MultipleCronTriggerTimetable needs at least one cron expression', 'schedule');
    }
    this.parts = spec.expressions.map(
      (expression) =>
        new CronTriggerTimetable({
          type: 'cron_trigger',
          expression,
          timezone: spec.timezone,
          interval: spec.interval,
          run_immediately: spec.run_immediately,
        }),
    );
    this.summary = this.parts.map((p) => p.summary).join(', ');
  }

  nextMs(last: Interval | null, r: Restriction, now: number): Info | null {
    // The nearest run; without catchup the latest one not after now, else the earliest after it.
    const key = (i: Info | null): number => {
      if (i === null) return Number.POSITIVE_INFINITY;
      const t = i.interval.start;
      return r.catchup ? t : t <= now ? -t : t;
    };
    // Python's min(): the first of equal keys wins.
    let best: Info | null = null;
    let bestKey = Number.POSITIVE_INFINITY;
    this.parts.forEach((p, i) => {
      const info = p.nextMs(last, r, now);
      const k = key(info);
      if (i === 0 || k < bestKey) {
        best = info;
        bestKey = k;
      }
    });
    return best;
  }

  manualMs(runAfter: number): Interval {
    let best: Interval | null = null;
    for (const p of this.parts) {
      const i = p.manualMs(runAfter);
      if (best === null || i.start < best.start) best = i;
    }
    return best!;
  }
}

class EventsTimetable extends Base {
  readonly summary: string;
  private readonly events: number[];
  constructor(readonly spec: Extract<TimetableSpec, { type: 'events' }>) {
    super();
    if (!Array.isArray(spec.event_dates))
      throw new TimetableError('EventsTimetable: event_dates must be a list of dates', 'schedule');
    this.events = spec.event_dates.map((d, i) => {
      const t = Date.parse(d);
      if (Number.isNaN(t))
        throw new TimetableError(`EventsTimetable: event_dates[${i}] is not a date: '${d}'`, 'schedule');
      return t;
    });
    this.events.sort((a, b) => a - b);
    this.summary = spec.description ?? `${this.events.length} events`;
  }

  nextMs(last: Interval | null, r: Restriction, now: number): Info | null {
    let earliest = r.earliest;
    if (!r.catchup && (earliest === null || now > earliest)) earliest = now;
    const event = this.events.find((e) => !(earliest !== null && e < earliest) && !(last !== null && e <= last.end));
    if (event === undefined) return null;
    if (r.latest !== null && event > r.latest) return null;
    return exact(event);
  }

  manualMs(runAfter: number): Interval {
    if (!this.spec.restrict_to_events || this.events.length === 0) return { start: runAfter, end: runAfter };
    // The most recent event at or before the trigger, or the first one when all are later.
    let chosen = this.events[0]!;
    for (const e of this.events) if (e <= runAfter) chosen = e;
    return { start: chosen, end: chosen };
  }
}

/** None, @once, @continuous and asset schedules: Airflow's _TrivialTimetable family. */
abstract class TrivialTimetable extends Base {
  override readonly periodic: boolean = false;
  manualMs(runAfter: number): Interval {
    return { start: runAfter, end: runAfter };
  }
}

class NullTimetable extends TrivialTimetable {
  readonly summary = 'None';
  override readonly canBeScheduled = false;
  readonly spec: TimetableSpec = { type: 'null' };
  nextMs(): Info | null {
    return null;
  }
}

class OnceTimetable extends TrivialTimetable {
  readonly summary = '@once';
  readonly spec: TimetableSpec = { type: 'once' };
  nextMs(last: Interval | null, r: Restriction, now: number): Info | null {
    if (last !== null) return null;
    const runAfter = r.earliest ?? now;
    if (r.latest !== null && runAfter > r.latest) return null;
    return exact(runAfter);
  }
}

class ContinuousTimetable extends TrivialTimetable {
  readonly summary = '@continuous';
  readonly spec: TimetableSpec = { type: 'continuous' };
  override readonly activeRunsLimit = 1;
  nextMs(last: Interval | null, r: Restriction, now: number): Info | null {
    const startDate = r.earliest ?? now;
    let start: number;
    let end: number;
    if (last !== null) {
      if (last.end > now) {
        start = startDate;
        end = start + (last.end - last.start);
      } else {
        start = last.end;
        end = now;
      }
    } else {
      start = startDate;
      end = Math.max(startDate, now);
    }
    if (r.latest !== null && end > r.latest) return null;
    return over(start, end);
  }
}

/** Data-aware schedules never produce time-based runs (Airflow's AssetTriggeredTimetable). */
class AssetTriggeredTimetable extends TrivialTimetable {
  readonly summary = 'Asset';
  constructor(readonly spec: Extract<TimetableSpec, { type: 'assets' }>) {
    super();
  }
  nextMs(): Info | null {
    return null;
  }
}

function zoneOf(name: string): Zone {
  return zone(name);
}

function durationMs(seconds: number, field: string): number {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new TimetableError(`${field}: expected a non-negative number of seconds, got ${String(seconds)}`, field);
  }
  return Math.round(seconds * 1000);
}

function deltaMs(seconds: number, field: string): number {
  const d = durationMs(seconds, field);
  if (d <= 0)
    throw new TimetableError(`schedule interval must be positive, not ${String(seconds)} seconds`, 'schedule');
  return d;
}

function checkRunImmediately(v: RunImmediately): RunImmediately {
  if (typeof v === 'boolean' || v === null) return v;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  throw new TimetableError(
    `run_immediately: expected true, false, null or a number of seconds, got ${String(v)}`,
    'runImmediately',
  );
}

/** Python's str(timedelta): '1:00:00', '1 day, 0:00:00', '0:00:30.500000'. */
export function formatTimedelta(seconds: number): string {
  const totalMicros = Math.round(seconds * 1e6);
  const days = Math.floor(totalMicros / 86_400e6);
  let rest = totalMicros - days * 86_400e6;
  const h = Math.floor(rest / 3600e6);
  rest -= h * 3600e6;
  const m = Math.floor(rest / 60e6);
  rest -= m * 60e6;
  const s = Math.floor(rest / 1e6);
  const micros = rest - s * 1e6;
  const time = `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}${micros ? `.${String(micros).padStart(6, '0')}` : ''}`;
  return days === 0 ? time : `${days} day${Math.abs(days) === 1 ? '' : 's'}, ${time}`;
}

/** The timetable a spec describes; throws TimetableError (naming the field) for a bad one. */
export function timetableFromSpec(spec: TimetableSpec | null | undefined): Timetable {
  if (spec === null || spec === undefined) return new NullTimetable();
  switch (spec.type) {
    case 'null':
      return new NullTimetable();
    case 'once':
      return new OnceTimetable();
    case 'continuous':
      return new ContinuousTimetable();
    case 'cron_trigger':
      return new CronTriggerTimetable(spec);
    case 'multiple_cron_trigger':
      return new MultipleCronTriggerTimetable(spec);
    case 'cron_data_interval':
      return new CronDataIntervalTimetable(spec);
    case 'delta_trigger':
      return new DeltaTriggerTimetable(spec);
    case 'delta_data_interval':
      return new DeltaDataIntervalTimetable(spec);
    case 'events':
      return new EventsTimetable(spec);
    case 'assets':
      return new AssetTriggeredTimetable(spec);
    default:
      throw new TimetableError(`unknown timetable type '${String((spec as { type?: unknown }).type)}'`, 'schedule');
  }
}

export type { AssetConditionSpec };
