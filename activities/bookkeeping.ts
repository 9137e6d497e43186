/**
 * Bookkeeping activities (run as local activities): load the spec into the workflow, create the
 * run's task instances, and record decisions the workflow makes without running anything
 * (skipped, upstream_failed, up_for_retry after a lost try, the run's state).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { getDagVersion } from '../db/dag.repository.js';
import { getDagRun, updateDagRunState } from '../db/dag-run.repository.js';
import { listTaskInstances, upsertTaskInstances } from '../db/task-instance.repository.js';
import { getXCom } from '../db/xcom.repository.js';
import { checkMappable, pathKey } from '../engine/mapping.js';
import { carriedFromRecord } from '../engine/operator-actions.js';
import type { DagSpec, Json } from '../spec/dag-spec.js';
import type { OpenLineageEmitter } from './lineage/openlineage-transport.js';
import type {
  CarriedRun,
  ExpandMappedTaskRequest,
  FailedTasksRequest,
  FailedTasksResult,
  LoadRunRequest,
  LoadRunResult,
  RecordStatesRequest,
  ReopenRunRequest,
  XComEntry,
} from '../workflows/types.js';

export class DagVersionMismatchError extends Error {
  override readonly name = 'DagVersionMismatchError';
}

export function makeBookkeeping(
  db: Kysely<Database>,
  openLineage: OpenLineageEmitter | null = null,
): {
  loadRun(req: LoadRunRequest): Promise<LoadRunResult>;
  recordStates(req: RecordStatesRequest): Promise<void>;
  expandMappedTask(req: ExpandMappedTaskRequest): Promise<void>;
  reopenRun(req: ReopenRunRequest): Promise<CarriedRun>;
  failedTasks(req: FailedTasksRequest): Promise<FailedTasksResult>;
} {
  // Specs are immutable per version id, so a small cache saves re-reading 10,000-task specs per chunk.
  const cache = new Map<number, DagSpec>();
  const load = async (versionId: number, hash: string): Promise<DagSpec> => {
    let spec = cache.get(versionId);
    if (!spec) {
      const row = await getDagVersion(db, versionId);
      if (!row) throw new DagVersionMismatchError(`dag_version ${versionId} does not exist`);
      if (row.spec_hash !== hash) {
        throw new DagVersionMismatchError(
          `dag_version ${versionId} has hash ${row.spec_hash}, the run expects ${hash}`,
        );
      }
      spec = row.spec;
      if (cache.size > 32) cache.clear();
      cache.set(versionId, spec);
    }
    return spec;
  };

  /**
   * The DAG run's OpenLineage event (START when it begins, COMPLETE/FAIL when it ends). Not awaited:
   * these are local activities, and emission never fails or delays the run (failures are logged).
   */
  const runEvent = (
    dagId: string,
    runId: string,
    eventType: 'START' | 'COMPLETE' | 'FAIL',
    error?: string | null,
  ): void => {
    if (openLineage === null) return;
    void getDagRun(db, dagId, runId).then(
      (run) =>
        openLineage.emitDagRun({
          eventType,
          eventTime: new Date(),
          dagId,
          runId,
          nominalStartTime: run?.data_interval_start ?? null,
          nominalEndTime: run?.data_interval_end ?? null,
          ...(eventType === 'FAIL' ? { error: { message: error || 'the DAG run failed' } } : {}),
        }),
      (err: unknown) =>
        console.warn(`[openlineage] could not read DAG run ${dagId}/${runId}: ${(err as Error).message}`),
    );
  };

  return {
    /**
     * An operator action re-opens a finished run: the run is running again and its state comes
     * back from Postgres in the shape continue-as-new carries. Every pushed return value is passed
     * by reference (with its mapped lengths where a mapped task expands over it).
     */
    async reopenRun(req: ReopenRunRequest): Promise<CarriedRun> {
      const spec = await load(req.dagVersionId, req.specHash);
      const run = await getDagRun(db, req.dagId, req.runId);
      if (!run) throw new DagVersionMismatchError(`dag_run ${req.dagId}/${req.runId} does not exist`);
      const rows = await listTaskInstances(db, req.dagId, req.runId);
      const sizes = await db
        .selectFrom('xcom')
        .select(['task_id', 'size_bytes'])
        .where('dag_id', '=', req.dagId)
        .where('run_id', '=', req.runId)
        .where('map_index', '=', -1)
        .where('key', '=', 'return_value')
        .execute();
      const sizeOf = new Map(sizes.map((r) => [r.task_id, r.size_bytes]));
      const xcoms: Array<[number, XComEntry]> = [];
      for (let i = 0; i < spec.tasks.length; i++) {
        const t = spec.tasks[i]!;
        const size = sizeOf.get(t.task_id);
        if (size === undefined) continue;
        const entry: XComEntry = { stored: true, size };
        if (t.map_sources && t.map_sources.length > 0) {
          const value = (await getXCom(db, {
            dag_id: req.dagId,
            run_id: req.runId,
            task_id: t.task_id,
            map_index: -1,
            key: 'return_value',
          })) as Json | undefined;
          // Checked when it was pushed; the limit is not enforced twice.
          entry.map_lengths = Object.fromEntries(
            t.map_sources.map((s) => [pathKey(s.path), checkMappable(t.task_id, value, s, Number.MAX_SAFE_INTEGER)]),
          );
        }
        xcoms.push([i, entry]);
      }
      await updateDagRunState(db, req.dagId, req.runId, 'running', { end_date: null, last_error: null });
      const now = Date.now();
      return {
        generation: 0,
        startedAt: (run.start_date ?? new Date(now)).toISOString(),
        deadline:
          req.dagrunTimeoutSeconds === null ? null : new Date(now + req.dagrunTimeoutSeconds * 1000).toISOString(),
        tasks: carriedFromRecord(spec.tasks, rows),
        xcoms,
      };
    },

    async loadRun(req: LoadRunRequest): Promise<LoadRunResult> {
      const spec = await load(req.dagVersionId, req.specHash);
      if (req.initialize) {
        await updateDagRunState(db, req.dagId, req.runId, 'running', { start_date: new Date() });
        runEvent(req.dagId, req.runId, 'START');
        await upsertTaskInstances(
          db,
          spec.tasks.map((t) => ({
            dag_id: req.dagId,
            run_id: req.runId,
            task_id: t.task_id,
            map_index: -1,
            state: 'none',
            try_number: 0,
            max_tries: t.retries + 1,
            operator: t.operator,
            queue: t.queue,
            pool: t.pool,
            pool_slots: t.pool_slots,
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
        await trx
          .deleteFrom('task_instance')
          .where('dag_id', '=', req.dagId)
          .where('run_id', '=', req.runId)
          .where('task_id', '=', t.task_id)
          .where('map_index', '=', -1)
          .execute();
        for (let from = 0; from < req.count; from += 1000) {
          const rows = [];
          for (let i = from; i < Math.min(req.count, from + 1000); i++) {
            rows.push({
              dag_id: req.dagId,
              run_id: req.runId,
              task_id: t.task_id,
              map_index: i,
              state: 'none',
              try_number: req.tryNumber ?? 0,
              max_tries: req.maxTries ?? t.retries + 1,
              operator: t.operator,
              queue: t.queue,
              pool: t.pool,
              pool_slots: t.pool_slots,
              priority_weight: t.priority_weight,
            });
          }
          await trx
            .insertInto('task_instance')
            .values(rows as never)
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
      });
    },

    /** A failed run's root causes: its failed task instances (errors as stored, already masked). */
    async failedTasks(req: FailedTasksRequest): Promise<FailedTasksResult> {
      const failed = db
        .selectFrom('task_instance')
        .where('dag_id', '=', req.dagId)
        .where('run_id', '=', req.runId)
        .where('state', '=', 'failed');
      const tasks = await failed
        .select(['task_id', 'map_index', 'error'])
        .orderBy('task_id')
        .orderBy('map_index')
        .limit(req.limit)
        .execute();
      const { total } = await failed.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow();
      return { tasks, total: Number(total) };
    },

    async recordStates(req: RecordStatesRequest): Promise<void> {
      if (req.resetMapped && req.resetMapped.length > 0) {
        // Cleared mapped tasks expand again (perhaps to another length): their instance rows go.
        await db
          .deleteFrom('task_instance')
          .where('dag_id', '=', req.dagId)
          .where('run_id', '=', req.runId)
          .where('task_id', 'in', req.resetMapped)
          .where('map_index', '>=', 0)
          .execute();
      }
      if (req.tasks.length > 0) {
        await upsertTaskInstances(
          db,
          req.tasks.map((t) => ({
            dag_id: req.dagId,
            run_id: req.runId,
            task_id: t.task_id,
            map_index: t.map_index,
            state: t.state,
            try_number: t.try_number,
            error: t.error ?? null,
            ...(t.end_date ? { end_date: new Date(t.end_date) } : {}),
            ...(t.max_tries !== undefined ? { max_tries: t.max_tries } : {}),
          })),
        );
      }
      if (req.run) {
        await updateDagRunState(db, req.dagId, req.runId, req.run.state, {
          ...(req.run.end ? { end_date: new Date() } : {}),
          last_error: req.run.error ?? null,
        });
        if (req.run.end && (req.run.state === 'success' || req.run.state === 'failed')) {
          runEvent(req.dagId, req.runId, req.run.state === 'success' ? 'COMPLETE' : 'FAIL', req.run.error);
        }
      }
    },
  };
}
