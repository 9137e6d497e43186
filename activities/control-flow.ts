/**
 * Local activities behind control-flow tasks: LatestOnlyOperator's "is this the latest scheduled
 * run?" (answered from dag_run, and written to the latest-only task's log), and reading back a
 * branch result that was too large to travel through Temporal.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { findLaterScheduledRun } from '../db/dag-run.repository.js';
import { getXCom } from '../db/xcom.repository.js';
import type { Json } from '../spec/dag-spec.js';
import { DagRunType } from '../spec/states.js';
import type { LatestOnlyRequest, LatestOnlyResult, ReadXComRequest } from '../workflows/types.js';
import { TaskLogWriter, type TaskLogDeps } from './task-log.js';

export function makeControlFlow(deps: TaskLogDeps): {
  checkLatestOnly(req: LatestOnlyRequest): Promise<LatestOnlyResult>;
  readXCom(req: ReadXComRequest): Promise<Json>;
} {
  return {
    async checkLatestOnly(req: LatestOnlyRequest): Promise<LatestOnlyResult> {
      const result = await decideLatest(deps.db, req);
      const log = new TaskLogWriter(
        deps.db,
        { dag_id: req.dagId, run_id: req.runId, task_id: req.taskId, map_index: -1, try_number: req.tryNumber },
        { logsFolder: deps.logsFolder, ...(deps.mask ? { mask: deps.mask } : {}) },
      );
      log.system(
        result.latest
          ? `${result.reason}: downstream tasks proceed`
          : `${result.reason}: skipping the direct downstream tasks ${req.downstream.length > 0 ? req.downstream.join(', ') : '(none)'}`,
      );
      await log.close();
      return result;
    },

    async readXCom(req: ReadXComRequest): Promise<Json> {
      const value = await getXCom(deps.db, {
        dag_id: req.dagId,
        run_id: req.runId,
        task_id: req.taskId,
        map_index: -1,
        key: req.key,
      });
      return (value ?? null) as Json;
    },
  };
}

async function decideLatest(db: Kysely<Database>, req: LatestOnlyRequest): Promise<LatestOnlyResult> {
  // Airflow exempts manual runs (and runs without a logical date have no interval to compare).
  if (req.runType === DagRunType.MANUAL) return { latest: true, reason: 'manual run: latest_only does not skip' };
  if (req.logicalDate === null)
    return { latest: true, reason: 'run without a logical date: latest_only does not skip' };
  const later = await findLaterScheduledRun(db, req.dagId, req.runId, new Date(req.logicalDate));
  if (later === undefined) return { latest: true, reason: `latest scheduled run (logical date ${req.logicalDate})` };
  return {
    latest: false,
    reason: `not the latest scheduled run: "${later.run_id}" has the later logical date ${later.logical_date?.toISOString() ?? '?'}`,
  };
}
