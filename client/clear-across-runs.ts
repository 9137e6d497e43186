/**
 * Clearing task instances across a DAG's runs: Airflow's `tasks clear <dag_id> -t REGEX [-s] [-e]`
 * without a run id (and the REST API's clearTaskInstances without dag_run_id). Each matching run
 * gets the ordinary per-run clear (client/operator-actions.ts): a run in flight is updated, a
 * finished run is re-opened.
 */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database, DagRunRow } from '../db/database.js';
import { getDag, getDagVersion } from '../db/dag.repository.js';
import { listDagRuns } from '../db/dag-run.repository.js';
import type { ClearAction } from '../engine/operator-actions.js';
import type { DagSpec } from '../spec/dag-spec.js';
import type { RunOptions } from '../workflows/types.js';
import { applyOperatorAction, OperatorActionError, type OperatorActionOutcome } from './operator-actions.js';

export interface ClearAcrossRunsRequest {
  dagId: string;
  /** Airflow's -t: tasks whose id this regex finds (a search, not a full match); absent: every task. */
  taskRegex?: RegExp;
  /** Only runs whose logical date is at or after this (Airflow's -s). */
  startDate?: Date;
  /** Only runs whose logical date is at or before this (Airflow's -e). */
  endDate?: Date;
  /** The clear itself, as for one run (task_ids come from taskRegex, per run's DAG version). */
  action: Omit<ClearAction, 'kind' | 'task_ids'>;
  runOptions: RunOptions;
}

export interface RunClearOutcome {
  runId: string;
  outcome: OperatorActionOutcome;
}

/** The runs a clear applies to, oldest first, with the task ids the regex selects in each. */
export async function selectRunsToClear(
  db: Kysely<Database>,
  req: Pick<ClearAcrossRunsRequest, 'dagId' | 'taskRegex' | 'startDate' | 'endDate'>,
): Promise<Array<{ run: DagRunRow; taskIds: string[] | undefined }>> {
  if (!(await getDag(db, req.dagId)))
    throw new OperatorActionError(`DAG "${req.dagId}" not found (see updraft dags list)`);
  const inRange = (run: DagRunRow): boolean => {
    if (req.startDate === undefined && req.endDate === undefined) return true;
    const at = run.logical_date;
    if (at === null) return false;
    return (req.startDate === undefined || at >= req.startDate) && (req.endDate === undefined || at <= req.endDate);
  };
  const runs = (await listDagRuns(db, req.dagId)).filter(inRange).reverse();
  const range =
    req.startDate || req.endDate
      ? ` with a logical date${req.startDate ? ` from ${req.startDate.toISOString()}` : ''}${req.endDate ? ` to ${req.endDate.toISOString()}` : ''}`
      : '';
  if (runs.length === 0)
    throw new OperatorActionError(`DAG "${req.dagId}" has no runs${range} (see updraft dags list-runs ${req.dagId})`);
  const selected: Array<{ run: DagRunRow; taskIds: string[] | undefined }> = [];
  const seen = new Set<string>();
  for (const run of runs) {
    if (req.taskRegex === undefined) {
      selected.push({ run, taskIds: undefined });
      continue;
    }
    const version = run.dag_version_id === null ? undefined : await getDagVersion(db, run.dag_version_id);
    const ids = ((version?.spec as unknown as DagSpec | undefined)?.tasks ?? []).map((t) => t.task_id);
    for (const id of ids) seen.add(id);
    const matched = ids.filter((id) => req.taskRegex!.test(id));
    if (matched.length > 0) selected.push({ run, taskIds: matched });
  }
  if (selected.length === 0) {
    throw new OperatorActionError(
      `--task-regex ${JSON.stringify(req.taskRegex!.source)} matches no task in the ${runs.length} run(s) of DAG "${req.dagId}"${range}; their tasks are: ${[...seen].sort().join(', ')}`,
    );
  }
  return selected;
}

/** Plans (dry_run) or applies the clear to every selected run, oldest first. */
export async function clearAcrossRuns(
  db: Kysely<Database>,
  client: Client,
  req: ClearAcrossRunsRequest,
): Promise<RunClearOutcome[]> {
  const outcomes: RunClearOutcome[] = [];
  for (const { run, taskIds } of await selectRunsToClear(db, req)) {
    const action: ClearAction = { kind: 'clear', ...req.action, ...(taskIds ? { task_ids: taskIds } : {}) };
    const outcome = await applyOperatorAction(db, client, {
      dagId: req.dagId,
      runId: run.run_id,
      action,
      runOptions: req.runOptions,
    });
    outcomes.push({ runId: run.run_id, outcome });
  }
  return outcomes;
}
