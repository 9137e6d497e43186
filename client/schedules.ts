/**
 * Scheduled runs on Temporal Schedules: one Schedule per scheduled DAG is the clock, the engine's
 * timetables (engine/timetables/) are the truth.
 *
 * Temporal's schedule specs cannot express Airflow's timetables exactly (data intervals, pendulum's
 * DST rules, events, catchup), so the Schedule does not carry the cron: its spec lists the next
 * fire times the engine computed (exact UTC instants, one calendar entry each, commented with the
 * run id). Each fire starts the small `scheduleTick` workflow, whose activity asks the engine which
 * runs are due and creates them through the same path as a trigger (client/trigger.ts), then
 * writes the next fire times back into the Schedule. Run ids are deterministic
 * (`scheduled__<run_after>`) and at most one scheduled or backfill run exists per logical date, so
 * a fire that is retried, duplicated or late never makes two runs; a late fire (the worker was
 * down) creates what the DAG's catchup says: every missed run, or only the latest.
 */
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type CalendarSpec,
  type Client,
  type Month,
  type ScheduleOptions,
} from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { getDag, getLatestDagVersion, listDags } from '../db/dag.repository.js';
import { automatedRunsAt, latestScheduledInterval } from '../db/dag-run.repository.js';
import { queuedRunsToWake } from '../db/run-admission.repository.js';
import {
  restrictionOf,
  runIdFor,
  scheduledRunsUntil,
  timetableFromSpec,
  type DataInterval,
  type PlannedRun,
  type Timetable,
} from '../engine/timetables/index.js';
import type { DagSpec } from '../spec/dag-spec.js';
import { DagRunType } from '../spec/states.js';
import { admissionWakeSignal } from '../workflows/messages.js';
import { SCHEDULE_TICK_WORKFLOW, type ScheduleTickResult } from '../workflows/types.js';
import { isContinuous, nextContinuousRun, startContinuousRun } from './continuous.js';
import type { SchedulerContext } from './scheduler-context.js';
import { TriggerError, triggerDagRun } from './trigger.js';

/** The Temporal Schedule of a DAG (one per DAG; a namespace serves one Updraft deployment). */
export const SCHEDULE_ID_PREFIX = 'updraft-schedule-';

export function scheduleIdFor(dagId: string): string {
  return `${SCHEDULE_ID_PREFIX}${dagId}`;
}

/** How many future fire times a Schedule holds (each tick writes the next ones back). */
export const UPCOMING_FIRES = 10;

export interface SchedulePlan {
  timetable: Timetable;
  /** Runs due now (run_after <= now), oldest first: what a tick creates. */
  due: PlannedRun[];
  /** The next runs after those, with run_after > now: the Schedule's fire times. */
  upcoming: PlannedRun[];
}

/**
 * Whether Updraft's scheduler starts this DAG's runs by the clock: not for schedule=None, asset
 * schedules (data-aware runs are another path) or @continuous (a run starts when the previous ends:
 * client/continuous.ts).
 */
export function isClockScheduled(spec: Pick<DagSpec, 'timetable'>): boolean {
  const type = spec.timetable?.type;
  return type !== undefined && type !== 'null' && type !== 'assets' && type !== 'continuous';
}

/** The due and upcoming runs of a DAG, from its timetable, restriction and latest scheduled run. Pure. */
export function planSchedule(
  spec: Pick<DagSpec, 'timetable' | 'start_date' | 'end_date' | 'catchup'>,
  last: DataInterval | null,
  now: Date,
  count = UPCOMING_FIRES,
): SchedulePlan {
  const timetable = timetableFromSpec(spec.timetable);
  const restriction = restrictionOf(spec);
  const due = scheduledRunsUntil(timetable, { restriction, last, now, until: now });
  const upcoming: PlannedRun[] = [];
  let cursor = due.length > 0 ? due[due.length - 1]!.data_interval : last;
  while (upcoming.length < count) {
    const info = timetable.nextDagrunInfo({ lastAutomatedDataInterval: cursor, restriction, now });
    if (!info || !info.data_interval) break;
    if (info.run_after.getTime() > now.getTime())
      upcoming.push({ ...info, run_id: runIdFor('scheduled', info.run_after) });
    if (
      cursor &&
      info.data_interval.start.getTime() === cursor.start.getTime() &&
      info.data_interval.end.getTime() === cursor.end.getTime()
    )
      break;
    cursor = info.data_interval;
  }
  return { timetable, due, upcoming };
}

/**
 * A continuous DAG's Schedule holds one fire time, and only while its first run waits for a
 * start_date in the future; after that each run's end starts the next. Pure.
 */
export function planContinuousSchedule(
  spec: Pick<DagSpec, 'timetable' | 'start_date' | 'end_date' | 'catchup'>,
  last: DataInterval | null,
  now: Date,
): SchedulePlan {
  const next = nextContinuousRun(spec, last, now);
  return {
    timetable: timetableFromSpec(spec.timetable),
    due: [],
    upcoming: next && next.run_after.getTime() > now.getTime() ? [next] : [],
  };
}

const MONTH_NAMES: readonly Month[] = [
  'JANUARY',
  'FEBRUARY',
  'MARCH',
  'APRIL',
  'MAY',
  'JUNE',
  'JULY',
  'AUGUST',
  'SEPTEMBER',
  'OCTOBER',
  'NOVEMBER',
  'DECEMBER',
];

/**
 * One calendar entry firing once, at `at` (UTC) rounded up to the second (Temporal's resolution;
 * the tick then finds the run due).
 */
export function calendarAt(at: Date, comment: string): CalendarSpec {
  const t = new Date(Math.ceil(at.getTime() / 1000) * 1000);
  return {
    year: t.getUTCFullYear(),
    month: MONTH_NAMES[t.getUTCMonth()]!,
    dayOfMonth: t.getUTCDate(),
    hour: t.getUTCHours(),
    minute: t.getUTCMinutes(),
    second: t.getUTCSeconds(),
    dayOfWeek: '*',
    comment,
  };
}

export type { SchedulerContext } from './scheduler-context.js';

/**
 * Creates the DAG's scheduled runs that are due, oldest first, as a trigger does (same record,
 * search attributes and workflow) with run type `scheduled`. Nothing for an inactive, paused or
 * unscheduled DAG. Idempotent: a run that exists (same run id, or a backfill run of the same
 * logical date) is not made again.
 */
export async function createDueRuns(ctx: SchedulerContext, dagId: string): Promise<ScheduleTickResult> {
  const dag = await getDag(ctx.db, dagId);
  if (!dag || !dag.is_active) return { created: [], note: `DAG "${dagId}" is not in the DAGs folder` };
  if (dag.is_paused) return { created: [], note: `DAG "${dagId}" is paused` };
  const version = await getLatestDagVersion(ctx.db, dagId);
  if (version && isContinuous(version.spec)) return startContinuousRun(ctx, dagId);
  if (!version || !isClockScheduled(version.spec))
    return { created: [], note: `DAG "${dagId}" has no time-based schedule` };
  const now = (ctx.now ?? (() => new Date()))();
  const plan = planSchedule(version.spec, await latestScheduledInterval(ctx.db, dagId), now, 0);
  const existing = new Set(
    (
      await automatedRunsAt(
        ctx.db,
        dagId,
        plan.due.flatMap((r) => (r.logical_date ? [r.logical_date] : [])),
      )
    ).map((r) => r.logical_date?.getTime()),
  );
  const created: string[] = [];
  const problems: string[] = [];
  for (const run of plan.due) {
    if (run.logical_date && existing.has(run.logical_date.getTime())) continue;
    try {
      const r = await triggerDagRun(ctx.db, ctx.client, {
        dagId,
        runId: run.run_id,
        runType: DagRunType.SCHEDULED,
        logicalDate: run.logical_date,
        dataInterval: run.data_interval,
        runAfter: run.run_after,
        onExisting: 'same-run',
        runOptions: ctx.runOptions,
        logsFolder: ctx.logsFolder ?? null,
      });
      if (r.created) created.push(run.run_id);
    } catch (err) {
      // A run the DAG refuses (params without defaults): every later fire would refuse it too.
      if (!(err instanceof TriggerError)) throw err;
      problems.push(`${run.run_id}: ${err.message}`);
    }
  }
  for (const p of problems) ctx.log?.(`scheduler: DAG "${dagId}": ${p}`);
  if (created.length > 0) ctx.log?.(`scheduler: DAG "${dagId}": ${created.join(', ')}`);
  return {
    created,
    ...(problems.length > 0 ? { note: problems.join('; ') } : plan.due.length === 0 ? { note: 'no run due' } : {}),
  };
}

export type ScheduleSyncOutcome = 'created' | 'updated' | 'deleted' | 'absent';

/** What the Temporal UI shows as the schedule's note: what it is and how to change it. */
function scheduleNote(dagId: string, spec: DagSpec, plan: SchedulePlan, paused: boolean): string {
  const next = plan.upcoming[0];
  return [
    `Updraft DAG "${dagId}": ${spec.schedule ?? plan.timetable.summary} (${spec.timezone ?? 'UTC'}), catchup ${spec.catchup ? 'on' : 'off'}, max_active_runs ${spec.max_active_runs}.`,
    next ? `Next: ${next.run_id}.` : 'No further runs.',
    paused ? `Paused: updraft dags unpause ${dagId}.` : `Pause: updraft dags pause ${dagId}.`,
    "Managed by the Updraft worker from the DAG file (its fire times come from the DAG's timetable); edits here are overwritten.",
  ].join(' ');
}

function scheduleOptions(
  ctx: SchedulerContext,
  dagId: string,
  spec: DagSpec,
  plan: SchedulePlan,
  paused: boolean,
): ScheduleOptions {
  return {
    scheduleId: scheduleIdFor(dagId),
    spec: { calendars: plan.upcoming.map((r) => calendarAt(r.run_after, r.run_id)) },
    action: {
      type: 'startWorkflow',
      workflowType: SCHEDULE_TICK_WORKFLOW,
      // Temporal appends the fire time: updraft-schedule-tick:etl-2025-01-01T00:00:00Z.
      workflowId: `updraft-schedule-tick:${dagId}`,
      taskQueue: ctx.runOptions.taskQueue,
      args: [{ dagId }],
      staticSummary: `schedule tick · ${dagId}`,
      staticDetails: `Creates the scheduled runs of DAG **${dagId}** that are due (run ids \`scheduled__<run_after>\`), then sets the schedule's next fire times.`,
    },
    policies: {
      // Ticks are idempotent: one buffered behind a running one is enough to miss nothing.
      overlap: ScheduleOverlapPolicy.BUFFER_ONE,
      // Fires missed while Temporal was down still tick; the DAG's catchup decides what they create.
      catchupWindow: '365 days',
      pauseOnFailure: false,
    },
    state: { paused, note: scheduleNote(dagId, spec, plan, paused) },
    memo: { updraft_dag_id: dagId },
  };
}

/**
 * Brings a DAG's Temporal Schedule in line with its stored definition: created, updated in place
 * (new fire times, paused or not), or deleted (the DAG left the folder, or has no time-based
 * schedule, or no further runs). Runs already due are created at once (a DAG with catchup, an
 * unpaused DAG whose latest fire time passed, a @continuous DAG with no run queued or running),
 * as Airflow's scheduler would on its next loop.
 */
export async function syncDagSchedule(
  ctx: SchedulerContext,
  dagId: string,
  opts: { createDue?: boolean } = {},
): Promise<ScheduleSyncOutcome> {
  const dag = await getDag(ctx.db, dagId);
  const version = dag?.is_active ? await getLatestDagVersion(ctx.db, dagId) : undefined;
  const handle = ctx.client.schedule.getHandle(scheduleIdFor(dagId));
  const remove = async (): Promise<ScheduleSyncOutcome> => {
    try {
      await handle.delete();
      ctx.log?.(`scheduler: DAG "${dagId}": schedule ${scheduleIdFor(dagId)} deleted`);
      return 'deleted';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'absent';
      throw err;
    }
  };
  if (!dag || !version || !(isClockScheduled(version.spec) || isContinuous(version.spec))) return remove();
  if (!dag.is_paused && opts.createDue !== false) await createDueRuns(ctx, dagId);
  const now = (ctx.now ?? (() => new Date()))();
  const last = await latestScheduledInterval(ctx.db, dagId);
  const plan = isContinuous(version.spec)
    ? planContinuousSchedule(version.spec, last, now)
    : planSchedule(version.spec, last, now);
  if (plan.upcoming.length === 0) return remove();
  const options = scheduleOptions(ctx, dagId, version.spec, plan, dag.is_paused);
  for (let attempt = 0; ; attempt++) {
    try {
      await handle.update((prev) => ({
        ...prev,
        spec: options.spec,
        action: options.action,
        policies: options.policies,
        state: { ...prev.state, ...options.state },
      }));
      return 'updated';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) {
        try {
          await ctx.client.schedule.create(options);
          ctx.log?.(
            `scheduler: DAG "${dagId}": schedule ${scheduleIdFor(dagId)} created (next ${plan.upcoming[0]!.run_id})`,
          );
          return 'created';
        } catch (createErr) {
          // Another worker created it first: update that one.
          if (attempt < 3 && (createErr as Error).name === 'ScheduleAlreadyRunning') continue;
          throw createErr;
        }
      }
      // Two writers at once (a tick and the DAG processor): the loser reads again and retries.
      if (attempt < 3 && /conflict/i.test((err as Error).message)) continue;
      throw err;
    }
  }
}

/**
 * Syncs every DAG's Schedule (the worker's start, a change in the DAGs folder). A failure for one
 * DAG is logged and the others still sync.
 */
export async function syncAllSchedules(ctx: SchedulerContext): Promise<Record<string, ScheduleSyncOutcome | 'error'>> {
  const out: Record<string, ScheduleSyncOutcome | 'error'> = {};
  for (const dag of await listDags(ctx.db)) {
    try {
      out[dag.dag_id] = await syncDagSchedule(ctx, dag.dag_id);
    } catch (err) {
      out[dag.dag_id] = 'error';
      ctx.log?.(
        `scheduler: DAG "${dag.dag_id}": syncing its schedule failed, trying again later: ${(err as Error).message}`,
      );
    }
  }
  return out;
}

/** Signals the DAG's queued runs that may start now (after an unpause, a new backfill). */
export async function wakeQueuedRuns(db: Kysely<Database>, client: Client, dagId: string): Promise<number> {
  const ids = await queuedRunsToWake(db, dagId);
  await Promise.all(
    ids.map((id) =>
      client.workflow
        .getHandle(id)
        .signal(admissionWakeSignal)
        .catch(() => undefined),
    ),
  );
  return ids.length;
}
