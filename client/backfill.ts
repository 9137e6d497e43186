/**
 * `updraft backfill create` (Airflow 3's backfill, a scheduler-managed object): the runs of the
 * DAG's timetable with logical dates from from_date to to_date (engine/timetables backfillRuns),
 * recorded as one backfill with its own max_active_runs. A date that already has a run follows
 * Airflow's reprocess rules: a queued or running run is never touched; `none` keeps every existing
 * run, `failed` re-runs (clears) the failed ones, `completed` the failed and the successful ones.
 * New runs are `backfill__<run_after>` with run type `backfill`; one logical date never has both a
 * scheduled and a backfill run. They start in the backfill's order (--run-backwards: newest
 * first), at most max_active_runs at a time (db/run-admission.repository.ts).
 */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database, DagRunRow } from '../db/database.js';
import { getDag, getLatestDagVersion } from '../db/dag.repository.js';
import { toJsonb } from '../db/json.js';
import {
  BackfillRangeError,
  backfillRuns,
  timetableFromSpec,
  type PlannedRun,
  type ReprocessBehavior,
} from '../engine/timetables/index.js';
import type { Json } from '../spec/dag-spec.js';
import { DagRunType } from '../spec/states.js';
import type { RunOptions } from '../workflows/types.js';
import { applyOperatorAction } from './operator-actions.js';
import { TriggerError, triggerDagRun } from './trigger.js';

export class BackfillError extends Error {
  override readonly name = 'BackfillError';
}

export const REPROCESS_BEHAVIORS: readonly ReprocessBehavior[] = ['none', 'failed', 'completed'];

export interface BackfillRequest {
  dagId: string;
  fromDate: Date;
  toDate: Date;
  /** Airflow's default: none. */
  reprocessBehavior: ReprocessBehavior;
  /** Default: the DAG's max_active_runs. */
  maxActiveRuns?: number;
  runBackwards: boolean;
  dryRun: boolean;
  conf?: Record<string, Json>;
  runOptions: RunOptions;
  logsFolder?: string | null;
  now?: Date;
}

export type BackfillRunAction = 'create' | 'reprocess' | 'skip';

export interface BackfillRunPlan {
  logical_date: Date | null;
  run_id: string;
  action: BackfillRunAction;
  /** Why a date is skipped or reprocessed (the existing run). */
  reason: string | null;
}

export interface BackfillOutcome {
  /** Null for a dry run. */
  backfillId: number | null;
  maxActiveRuns: number;
  runs: BackfillRunPlan[];
}

/** What to do with a date that already has a run (Airflow's _get_dag_run_no_create_reason). */
export function reprocessDecision(
  existing: Pick<DagRunRow, 'run_id' | 'state'>,
  behavior: ReprocessBehavior,
): { action: BackfillRunAction; reason: string } {
  const what = `run ${existing.run_id} is ${existing.state}`;
  if (existing.state === 'queued' || existing.state === 'running')
    return { action: 'skip', reason: `${what} (never re-run while active)` };
  if (behavior === 'completed' || (behavior === 'failed' && existing.state === 'failed'))
    return { action: 'reprocess', reason: `${what}: cleared to run again (reprocess ${behavior})` };
  return { action: 'skip', reason: `${what} (reprocess ${behavior})` };
}

/** `client` may be null for a dry run (nothing is started). */
export async function createBackfill(
  db: Kysely<Database>,
  client: Client | null,
  req: BackfillRequest,
): Promise<BackfillOutcome> {
  const dag = await getDag(db, req.dagId);
  if (!dag || !dag.is_active)
    throw new BackfillError(`DAG "${req.dagId}" is not in the last parse of the DAGs folder (updraft dags list)`);
  const version = await getLatestDagVersion(db, req.dagId);
  if (!version)
    throw new BackfillError(
      `DAG "${req.dagId}" has no parsed version yet; start a worker or run \`updraft dags reserialize\``,
    );
  if (!REPROCESS_BEHAVIORS.includes(req.reprocessBehavior)) {
    throw new BackfillError(
      `--reprocess-behavior must be one of ${REPROCESS_BEHAVIORS.join(', ')}, got "${String(req.reprocessBehavior)}"`,
    );
  }
  const maxActiveRuns = req.maxActiveRuns ?? version.spec.max_active_runs;
  if (!Number.isInteger(maxActiveRuns) || maxActiveRuns < 1)
    throw new BackfillError(`--max-active-runs must be an integer >= 1, got ${String(req.maxActiveRuns)}`);
  const now = req.now ?? new Date();
  let planned: PlannedRun[];
  try {
    planned = backfillRuns(timetableFromSpec(version.spec.timetable), {
      fromDate: req.fromDate,
      toDate: req.toDate,
      reverse: req.runBackwards,
      now,
      dependsOnPast: version.spec.tasks.some((t) => t.depends_on_past),
      reprocessBehavior: req.reprocessBehavior,
    });
  } catch (err) {
    if (err instanceof BackfillRangeError) throw new BackfillError(`DAG "${req.dagId}": ${err.message}`);
    throw err;
  }
  if (planned.length === 0)
    throw new BackfillError(
      `DAG "${req.dagId}": no runs to create between ${req.fromDate.toISOString()} and ${req.toDate.toISOString()} (none of its schedule's data intervals ends in that range before now)`,
    );

  const dates = planned.flatMap((p) => (p.logical_date ? [p.logical_date] : []));
  const existing =
    dates.length === 0
      ? []
      : await db
          .selectFrom('dag_run')
          .selectAll()
          .where('dag_id', '=', req.dagId)
          .where('logical_date', 'in', dates)
          .execute();
  const byDate = new Map(existing.map((r) => [r.logical_date!.getTime(), r]));
  const runs: Array<BackfillRunPlan & { existing?: DagRunRow; planned: PlannedRun }> = planned.map((p) => {
    const found = p.logical_date ? byDate.get(p.logical_date.getTime()) : undefined;
    if (!found) return { logical_date: p.logical_date, run_id: p.run_id, action: 'create', reason: null, planned: p };
    const d = reprocessDecision(found, req.reprocessBehavior);
    return {
      logical_date: p.logical_date,
      run_id: d.action === 'reprocess' ? found.run_id : p.run_id,
      action: d.action,
      reason: d.reason,
      existing: found,
      planned: p,
    };
  });
  const report = runs.map(({ logical_date, run_id, action, reason }) => ({ logical_date, run_id, action, reason }));
  if (req.dryRun) return { backfillId: null, maxActiveRuns, runs: report };
  if (client === null)
    throw new BackfillError('a backfill needs a Temporal server (start `updraft dev`, or set TEMPORAL_ADDRESS)');

  const row = await db
    .insertInto('backfill')
    .values({
      dag_id: req.dagId,
      from_date: req.fromDate,
      to_date: req.toDate,
      run_backwards: req.runBackwards,
      max_active_runs: maxActiveRuns,
      reprocess_behavior: req.reprocessBehavior,
      dag_run_conf: toJsonb(req.conf ?? {}, 'backfill dag_run_conf'),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  // Recorded in the backfill's order (the order they start in); each starts queued and waits for admission.
  for (const r of runs) {
    if (r.action === 'create') {
      try {
        await triggerDagRun(db, client, {
          dagId: req.dagId,
          runId: r.run_id,
          runType: DagRunType.BACKFILL,
          logicalDate: r.planned.logical_date,
          dataInterval: r.planned.data_interval,
          runAfter: r.planned.run_after,
          backfillId: row.id,
          conf: req.conf ?? {},
          runOptions: req.runOptions,
          logsFolder: req.logsFolder ?? null,
        });
      } catch (err) {
        if (err instanceof TriggerError)
          throw new BackfillError(`DAG "${req.dagId}": creating ${r.run_id}: ${err.message}`);
        throw err;
      }
    } else if (r.action === 'reprocess' && r.existing) {
      await db.updateTable('dag_run').set({ backfill_id: row.id }).where('id', '=', r.existing.id).execute();
      await applyOperatorAction(db, client, {
        dagId: req.dagId,
        runId: r.existing.run_id,
        runOptions: req.runOptions,
        logsFolder: req.logsFolder ?? null,
        action: { kind: 'clear', ...(req.reprocessBehavior === 'failed' ? { only_failed: true } : {}) },
      });
    }
  }
  return { backfillId: row.id, maxActiveRuns, runs: report };
}
