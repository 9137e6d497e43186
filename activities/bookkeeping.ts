/**
 * Bookkeeping activities (run as local activities): load the spec into the workflow, create the
 * run's task instances, and record decisions the workflow makes without running anything
 * (skipped, upstream_failed, up_for_retry after a lost try, the run's state).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { getDagVersion } from '../db/dag.repository.js';
import { updateDagRunState } from '../db/dag-run.repository.js';
import { upsertTaskInstances } from '../db/task-instance.repository.js';
import type { DagSpec } from '../sdk/spec.js';
import type { ExpandMappedTaskRequest, LoadRunRequest, LoadRunResult, RecordStatesRequest } from '../workflows/types.js';

export class DagVersionMismatchError extends Error {
  override readonly name = 'DagVersionMismatchError';
}

export function makeBookkeeping(db: Kysely<Database>): {
  loadRun(req: LoadRunRequest): Promise<LoadRunResult>;
  recordStates(req: RecordStatesRequest): Promise<void>;
  expandMappedTask(req: ExpandMappedTaskRequest): Promise<void>;
} {
  // Specs are immutable per version id, so a small cache saves re-reading 10,000-task specs per chunk.
  const cache = new Map<number, DagSpec>();
  const load = async (versionId: number, hash: string): Promise<DagSpec> => {
    let spec = cache.get(versionId);
    if (!spec) {
      const row = await getDagVersion(db, versionId);
      if (!row) throw new DagVersionMismatchError(`dag_version ${versionId} does not exist`);
      if (row.spec_hash !== hash) {
        throw new DagVersionMismatchError(`dag_version ${versionId} has hash ${row.spec_hash}, the run expects ${hash}`);
      }
      spec = row.spec as unknown as DagSpec;
      if (cache.size > 32) cache.clear();
      cache.set(versionId, spec);
    }
    return spec;
  };

  return {
    async loadRun(req: LoadRunRequest): Promise<LoadRunResult> {
      const spec = await load(req.dagVersionId, req.specHash);
      if (req.initialize) {
        await updateDagRunState(db, req.dagId, req.runId, 'running', { start_date: new Date() });
        await upsertTaskInstances(
          db,
          spec.tasks.map((t) => ({
            dag_id: req.dagId, run_id: req.runId, task_id: t.task_id, map_index: -1, state: 'none', try_number: 0,
            max_tries: t.retries + 1, operator: t.operator, queue: t.queue, pool: t.pool, pool_slots: t.pool_slots,
            priority_weight: t.priority_weight,
          })),
        );
      }
      const { tasks, ...dag } = spec;
      return { dag, tasks: tasks.slice(req.offset, req.offset + req.limit), total: tasks.length };
    },

    /**
     * Airflow's expand_mapped_task: the unmapped placeholder (map_index -1) is replaced by the
     * instances 0..count-1 (Airflow renumbers it to 0; we delete it and insert them all).
     * Idempotent: an instance row that already exists (a retried activity, a replayed expansion)
     * is left as it is.
     */
    async expandMappedTask(req: ExpandMappedTaskRequest): Promise<void> {
      const t = req.task;
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('task_instance')
          .where('dag_id', '=', req.dagId).where('run_id', '=', req.runId).where('task_id', '=', t.task_id).where('map_index', '=', -1)
          .execute();
        for (let from = 0; from < req.count; from += 1000) {
          const rows = [];
          for (let i = from; i < Math.min(req.count, from + 1000); i++) {
            rows.push({
              dag_id: req.dagId, run_id: req.runId, task_id: t.task_id, map_index: i, state: 'none', try_number: 0,
              max_tries: t.retries + 1, operator: t.operator, queue: t.queue, pool: t.pool, pool_slots: t.pool_slots,
              priority_weight: t.priority_weight,
            });
          }
          await trx.insertInto('task_instance').values(rows as never).onConflict((oc) => oc.doNothing()).execute();
        }
      });
    },

    async recordStates(req: RecordStatesRequest): Promise<void> {
      if (req.tasks.length > 0) {
        await upsertTaskInstances(
          db,
          req.tasks.map((t) => ({
            dag_id: req.dagId, run_id: req.runId, task_id: t.task_id, map_index: t.map_index, state: t.state,
            try_number: t.try_number, error: t.error ?? null,
            ...(t.end_date ? { end_date: new Date(t.end_date) } : {}),
          })),
        );
      }
      if (req.run) {
        await updateDagRunState(db, req.dagId, req.runId, req.run.state, {
          ...(req.run.end ? { end_date: new Date() } : {}),
          last_error: req.run.error ?? null,
        });
      }
    },
  };
}
