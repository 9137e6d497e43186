/**
 * `@continuous` DAGs (Airflow's ContinuousTimetable): while the DAG is active and unpaused, one
 * run is always queued or running. The next run is recorded as soon as the previous one ends (the
 * dagRun workflow's end wakes the worker's scheduler: worker/scheduler.ts), at worker start, on an
 * unpause and at every schedule sync (the safety net when a worker died in between). Its dates are
 * the engine's (engine/timetables/): data interval [end of the last one, or start_date; now],
 * run_after now, run id `scheduled__<run_after>`. A start_date in the future is waited for by the
 * DAG's Temporal Schedule, holding that one fire time (client/schedules.ts).
 *
 * Never two at once: the run is recorded in a transaction that first locks the DAG's row (as run
 * admission does) and checks that no run outside backfills is queued or running and that the
 * latest scheduled run is still the one the next was computed from (claimContinuousSlot); run
 * admission's max_active_runs=1 then holds any run someone triggers by hand.
 */
import { getDag, getLatestDagVersion } from '../db/dag.repository.js';
import { latestScheduledInterval } from '../db/dag-run.repository.js';
import { ContinuousSlotTakenError } from '../db/errors.js';
import { claimContinuousSlot } from '../db/run-admission.repository.js';
import {
  restrictionOf,
  runIdFor,
  timetableFromSpec,
  type DataInterval,
  type PlannedRun,
} from '../engine/timetables/index.js';
import type { DagSpec } from '../spec/dag-spec.js';
import { DagRunType } from '../spec/states.js';
import type { ScheduleTickResult } from '../workflows/types.js';
import type { SchedulerContext } from './scheduler-context.js';
import { TriggerError, triggerDagRun } from './trigger.js';

/** Whether the DAG's runs follow one another (schedule '@continuous'). */
export function isContinuous(spec: Pick<DagSpec, 'timetable'>): boolean {
  return spec.timetable?.type === 'continuous';
}

/** The next run of a continuous DAG after `last` at `now`, or null past its end_date. Pure. */
export function nextContinuousRun(
  spec: Pick<DagSpec, 'timetable' | 'start_date' | 'end_date' | 'catchup'>,
  last: DataInterval | null,
  now: Date,
): PlannedRun | null {
  const info = timetableFromSpec(spec.timetable).nextDagrunInfo({
    lastAutomatedDataInterval: last,
    restriction: restrictionOf(spec),
    now,
  });
  return info ? { ...info, run_id: runIdFor('scheduled', info.run_after) } : null;
}

/**
 * Records and starts the continuous DAG's next run if none is queued or running; else makes sure
 * the queued one's workflow was started (a crash between recording and starting it). Nothing for
 * an inactive or paused DAG, past its end_date, or before its start_date (the note says which).
 */
export async function startContinuousRun(ctx: SchedulerContext, dagId: string): Promise<ScheduleTickResult> {
  const dag = await getDag(ctx.db, dagId);
  if (!dag || !dag.is_active) return { created: [], note: `DAG "${dagId}" is not in the DAGs folder` };
  if (dag.is_paused) return { created: [], note: `DAG "${dagId}" is paused` };
  const version = await getLatestDagVersion(ctx.db, dagId);
  if (!version || !isContinuous(version.spec)) return { created: [], note: `DAG "${dagId}" is not @continuous` };
  // Read before the active runs: a run recorded between the two reads is then seen as active, or
  // (if it already ended) makes the claim below fail, never a second run.
  const last = await latestScheduledInterval(ctx.db, dagId);
  const active = await ctx.db
    .selectFrom('dag_run')
    .selectAll()
    .where('dag_id', '=', dagId)
    .where('backfill_id', 'is', null)
    .where('state', 'in', ['queued', 'running'])
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  const run = (planned: {
    runId: string;
    logicalDate: Date | null;
    dataInterval: DataInterval | null;
    runAfter: Date | undefined;
    claim: boolean;
  }) =>
    triggerDagRun(ctx.db, ctx.client, {
      dagId,
      runId: planned.runId,
      runType: DagRunType.SCHEDULED,
      logicalDate: planned.logicalDate,
      dataInterval: planned.dataInterval,
      ...(planned.runAfter ? { runAfter: planned.runAfter } : {}),
      onExisting: 'same-run',
      runOptions: ctx.runOptions,
      logsFolder: ctx.logsFolder ?? null,
      ...(planned.claim ? { precondition: (trx) => claimContinuousSlot(trx, dagId, last?.start ?? null) } : {}),
    });
  try {
    if (active) {
      if (active.state === 'queued' && active.run_type === DagRunType.SCHEDULED) {
        // Temporal refuses a second start of the same workflow id: this only starts one never started.
        await run({
          runId: active.run_id,
          logicalDate: active.logical_date,
          dataInterval:
            active.data_interval_start && active.data_interval_end
              ? { start: active.data_interval_start, end: active.data_interval_end }
              : null,
          runAfter: active.run_after ?? undefined,
          claim: false,
        });
      }
      return { created: [], note: `run "${active.run_id}" is ${active.state}` };
    }
    const now = (ctx.now ?? (() => new Date()))();
    const next = nextContinuousRun(version.spec, last, now);
    if (!next) return { created: [], note: `DAG "${dagId}" has no further runs (end_date ${version.spec.end_date})` };
    if (next.run_after.getTime() > now.getTime())
      return { created: [], note: `the first run waits for start_date ${next.run_after.toISOString()}` };
    const r = await run({
      runId: next.run_id,
      logicalDate: next.logical_date,
      dataInterval: next.data_interval,
      runAfter: next.run_after,
      claim: true,
    });
    if (r.created) ctx.log?.(`scheduler: DAG "${dagId}": ${next.run_id} (@continuous)`);
    return { created: r.created ? [next.run_id] : [] };
  } catch (err) {
    // Another worker (or a trigger, or a pause) came first: it is theirs to go on from.
    if (err instanceof ContinuousSlotTakenError) return { created: [], note: err.message };
    // A run the DAG refuses (params without defaults): every later attempt would refuse it too.
    if (err instanceof TriggerError) {
      ctx.log?.(`scheduler: DAG "${dagId}": ${err.message}`);
      return { created: [], note: err.message };
    }
    throw err;
  }
}
