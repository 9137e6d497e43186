/**
 * Sequences of runs on top of a timetable: the next N runs (`dags next-execution`), the runs of a
 * backfill window (Airflow 3's backfill date-range rules), a DAG's restriction, and Airflow's run
 * ids.
 */
import type { DagSpec } from '../../spec/dag-spec.js';
import { BackfillRangeError, TimetableError } from './errors.js';
import type { DagRunInfo, DataInterval, TimeRestriction, Timetable } from './timetables.js';

/** Airflow's DagRunType values that appear in run ids. */
export type RunIdType = 'scheduled' | 'backfill' | 'manual' | 'asset_triggered';

/** Python's datetime.isoformat() of a UTC instant: '2025-01-01T00:00:00+00:00' (microseconds only when non-zero). */
export function pythonIsoUtc(d: Date): string {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const millis = d.getUTCMilliseconds();
  return `${iso.slice(0, 19)}${millis ? `.${String(millis).padStart(3, '0')}000` : ''}+00:00`;
}

/**
 * Airflow's run id for an automated run: `scheduled__<run_after>` / `backfill__<run_after>`, with
 * run_after in UTC as the scheduler formats it (`scheduled__2025-01-01T00:00:00+00:00`).
 */
export function runIdFor(type: RunIdType, runAfter: Date): string {
  return `${type}__${pythonIsoUtc(runAfter)}`;
}

/** The restriction a DAG's start_date, end_date and catchup put on its timetable (Airflow's _time_restriction). */
export function restrictionOf(dag: Pick<DagSpec, 'start_date' | 'end_date' | 'catchup'>): TimeRestriction {
  return {
    earliest: dag.start_date ? new Date(dag.start_date) : null,
    latest: dag.end_date ? new Date(dag.end_date) : null,
    catchup: dag.catchup,
  };
}

/** A run with its run id. */
export interface PlannedRun extends DagRunInfo {
  run_id: string;
}

function planned(type: RunIdType, info: DagRunInfo): PlannedRun {
  return { ...info, run_id: runIdFor(type, info.run_after) };
}

/** Bound on generated sequences, so a bad timetable cannot loop forever. */
const MAX_RUNS = 100_000;

export interface NextExecutionsArgs {
  restriction: TimeRestriction;
  /** The latest scheduled/backfill run's data interval; null if none. */
  last: DataInterval | null;
  now: Date;
  count: number;
}

/**
 * `dags next-execution --num-executions N`: the next run under the DAG's restriction (what the
 * scheduler has as DagModel.next_dagrun), then each following one without restriction, as
 * Airflow's CLI computes them.
 */
export function nextExecutions(timetable: Timetable, args: NextExecutionsArgs): PlannedRun[] {
  if (!Number.isInteger(args.count) || args.count < 1)
    throw new TimetableError(`num_executions must be a positive integer, got ${String(args.count)}`, 'numExecutions');
  const out: PlannedRun[] = [];
  let info = timetable.nextDagrunInfo({
    lastAutomatedDataInterval: args.last,
    restriction: args.restriction,
    now: args.now,
  });
  const open: TimeRestriction = { earliest: null, latest: null, catchup: true };
  while (info && out.length < args.count) {
    out.push(planned('scheduled', info));
    if (out.length === args.count) break;
    info = timetable.nextDagrunInfo({
      lastAutomatedDataInterval: info.data_interval,
      restriction: open,
      now: args.now,
    });
  }
  return out;
}

/**
 * The automated runs a live scheduler creates by `until` (run_after <= until), starting after
 * `last`: what catchup produces, in order.
 */
export function scheduledRunsUntil(
  timetable: Timetable,
  args: { restriction: TimeRestriction; last: DataInterval | null; now: Date; until: Date },
): PlannedRun[] {
  const out: PlannedRun[] = [];
  let last = args.last;
  for (;;) {
    const info = timetable.nextDagrunInfo({
      lastAutomatedDataInterval: last,
      restriction: args.restriction,
      now: args.now,
    });
    if (!info || info.run_after.getTime() > args.until.getTime()) return out;
    out.push(planned('scheduled', info));
    if (out.length >= MAX_RUNS)
      throw new TimetableError(`more than ${MAX_RUNS} runs until ${args.until.toISOString()}`, 'schedule');
    last = info.data_interval;
  }
}

export type ReprocessBehavior = 'none' | 'failed' | 'completed';

export interface BackfillArgs {
  fromDate: Date;
  toDate: Date;
  /** --run-backwards: newest first. */
  reverse: boolean;
  now: Date;
  /** Some task has depends_on_past (then reverse is refused and reprocess must not be 'none'). */
  dependsOnPast?: boolean;
  reprocessBehavior?: ReprocessBehavior | null;
}

/**
 * The runs a backfill creates, in creation order (Airflow 3's _get_info_list): the timetable's
 * runs with logical dates from `fromDate` to `toDate` (inclusive, catchup on, the DAG's own
 * start/end dates ignored), only those whose data interval ended before now, reversed for
 * --run-backwards. Throws BackfillRangeError with Airflow's checks (non-periodic schedule, from
 * after to, all in the future, depends_on_past rules). An empty result is Airflow's
 * NoBackfillRunsToCreate: the caller reports it.
 */
export function backfillRuns(timetable: Timetable, args: BackfillArgs): PlannedRun[] {
  if (!timetable.periodic)
    throw new BackfillRangeError(
      `the DAG's schedule (${timetable.summary}) is not periodic and does not support backfills`,
      'schedule',
    );
  const from = args.fromDate.getTime();
  const to = args.toDate.getTime();
  const now = args.now.getTime();
  if (Number.isNaN(from)) throw new BackfillRangeError('from_date is not a valid date', 'fromDate');
  if (Number.isNaN(to)) throw new BackfillRangeError('to_date is not a valid date', 'toDate');
  if (from > to)
    throw new BackfillRangeError(
      `from_date (${pythonIsoUtc(args.fromDate)}) must not be after to_date (${pythonIsoUtc(args.toDate)})`,
      'fromDate',
    );
  if (from >= now && to >= now)
    throw new BackfillRangeError('backfill cannot be executed for future dates', 'fromDate');
  if (args.dependsOnPast) {
    if (args.reverse)
      throw new BackfillRangeError(
        'backfill cannot run backwards when the DAG has tasks with depends_on_past=True',
        'runBackwards',
      );
    if (!args.reprocessBehavior || args.reprocessBehavior === 'none') {
      throw new BackfillRangeError(
        "the DAG has tasks with depends_on_past=True: set reprocess behavior to 'completed' or 'failed'",
        'reprocessBehavior',
      );
    }
  }
  const restriction: TimeRestriction = { earliest: args.fromDate, latest: args.toDate, catchup: true };
  const infos: DagRunInfo[] = [];
  let info = timetable.nextDagrunInfo({ lastAutomatedDataInterval: null, restriction, now: args.now });
  while (info) {
    infos.push(info);
    if (infos.length >= MAX_RUNS)
      throw new BackfillRangeError(`more than ${MAX_RUNS} runs between from_date and to_date`, 'toDate');
    info = timetable.nextDagrunInfo({ lastAutomatedDataInterval: info.data_interval, restriction, now: args.now });
  }
  const runs = infos
    .filter((i) => i.data_interval !== null && i.data_interval.end.getTime() < now)
    .map((i) => planned('backfill', i));
  return args.reverse ? runs.reverse() : runs;
}
