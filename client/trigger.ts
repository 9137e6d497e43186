/**
 * Starting DAG runs (CLI `dags trigger`, `dags test`, later the REST API and schedules). The run is
 * recorded in Postgres first (queued), then started as a Temporal workflow whose id is derived
 * from dag_id and run_id, so the same run_id can never start twice.
 */
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { getDag, getDagVersion, getLatestDagVersion } from '../db/dag.repository.js';
import { createDagRun, getDagRun, updateDagRunState } from '../db/dag-run.repository.js';
import { DagRunExistsError } from '../db/errors.js';
import { inTransaction } from '../db/transaction.js';
import { validateRunParams } from './params.js';
import { runLinks } from './run-links.js';
import type { Json } from '../spec/dag-spec.js';
import { DagRunType, defaultTriggeredBy, type DagRunTriggeredBy } from '../spec/states.js';
import type { dagRun } from '../workflows/dag-run/index.js';
import { DAG_ID, DAG_RUN_ID, DAG_RUN_STATE, LOGICAL_DATE, RUN_TYPE } from '../workflows/search-attributes.js';
import { DAG_RUN_WORKFLOW, type DagRunInput, type RunOptions } from '../workflows/types.js';

export class TriggerError extends Error {
  override readonly name = 'TriggerError';
}

/** Temporal could not be reached to start a recorded run (onExisting 'same-run'): asking again may work. */
export class TemporalStartError extends Error {
  override readonly name = 'TemporalStartError';
}

/** Workflow id of a DAG run: stable, unique per (dag_id, run_id), readable in the Temporal UI. */
export function dagRunWorkflowId(dagId: string, runId: string): string {
  return `dag:${dagId}:run:${runId}`;
}

/** Microseconds since the epoch: wall-clock milliseconds with the high-resolution clock's fraction. */
export type MicrosecondClock = () => bigint;

export const systemMicroseconds: MicrosecondClock = () =>
  BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));

/**
 * Airflow 3's default run id: `manual__2025-01-01T00:00:00.123456+00:00` (the run type and the
 * timestamp with microseconds, as Python's isoformat prints it). Seconds alone made two triggers in
 * the same second collide.
 */
export function defaultRunId(runType: string, atMicros: bigint): string {
  const date = new Date(Number(atMicros / 1000n));
  const micros = String(atMicros % 1_000_000n).padStart(6, '0');
  return `${runType}__${date.toISOString().slice(0, 19)}.${micros}+00:00`;
}

/**
 * The path of the first number in `value` that JSON cannot carry (Infinity, -Infinity, NaN), e.g.
 * `conf.threshold`; null when there is none. JSON.parse turns a literal like 1e400 into Infinity,
 * which Postgres and Temporal would store as null.
 */
export function nonFiniteNumberPath(value: unknown, where: string): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : where;
  if (value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const found = nonFiniteNumberPath(
      v,
      Array.isArray(value)
        ? `${where}[${k}]`
        : /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)
          ? `${where}.${k}`
          : `${where}[${JSON.stringify(k)}]`,
    );
    if (found !== null) return found;
  }
  return null;
}

export function nonFiniteNumberMessage(path: string): string {
  return `${path} is not a finite number (a literal like 1e400 overflows to Infinity, which JSON cannot store): pass a number between -1.7976931348623157e308 and 1.7976931348623157e308`;
}

const RUN_ID_PATTERN = /^[A-Za-z0-9_.:+-]+$/;

export interface TriggerOptions {
  dagId: string;
  runId?: string;
  conf?: unknown;
  logicalDate?: Date | null;
  /** The run's data interval (default: both ends the logical date, as a manual run's). */
  dataInterval?: { start: Date; end: Date } | null;
  /** Airflow 3's run_after (default: the trigger time). */
  runAfter?: Date;
  /** The backfill creating the run. */
  backfillId?: number;
  /**
   * What a run id that already exists means: an error (a person chose it), or the same run asked
   * for again (a retried or duplicated schedule fire, a re-driven asset-triggered claim; its
   * workflow is started if a crash left it queued without one) — then the existing run is returned
   * and `created` is false. With 'same-run' the caller asks again, so a failure to reach Temporal
   * leaves the run queued and is thrown as a TemporalStartError (not a TriggerError), instead of
   * failing the run for good.
   */
  onExisting?: 'error' | 'same-run';
  runType?: (typeof DagRunType)[keyof typeof DagRunType];
  /** Who asks (default: what the run type implies; `dags test` says 'test', which a pause does not hold). */
  triggeredBy?: DagRunTriggeredBy;
  /**
   * Checked in the transaction that records the run, before the insert (it may lock rows): a
   * throw records nothing and reaches the caller. The continuous scheduler checks there that no
   * other run took the DAG's one slot (client/continuous.ts).
   */
  precondition?: (trx: Kysely<Database>) => Promise<void>;
  runOptions: RunOptions;
  /** The workers' task-log folder: the workflow's memo and details point there (absent: only the command). */
  logsFolder?: string | null;
  /** Where the default run id's timestamp comes from (tests pin it). */
  clock?: MicrosecondClock;
}

export interface TriggeredRun {
  dagId: string;
  runId: string;
  workflowId: string;
  handle: WorkflowHandle<typeof dagRun>;
  /** False when onExisting 'same-run' found the run already recorded. */
  created: boolean;
}

export async function triggerDagRun(db: Kysely<Database>, client: Client, opts: TriggerOptions): Promise<TriggeredRun> {
  // The stored parse result decides (the worker's DAG processor keeps it in step with the folder):
  // a run starts only on a version whose spec and code the workers can load.
  const dag = await getDag(db, opts.dagId);
  if (!dag) {
    throw new TriggerError(
      `DAG "${opts.dagId}" not found in the last parse of the DAGs folder: is it in the folder without import errors? ` +
        '(see `updraft dags list` and `updraft dags list-import-errors`; a running worker picks up a new file within seconds, ' +
        '`updraft dags reserialize` parses the folder now)',
    );
  }
  if (!dag.is_active) {
    throw new TriggerError(
      `DAG "${opts.dagId}" is no longer in the DAGs folder (inactive since the last parse: ${dag.fileloc} is gone or no longer defines it)`,
    );
  }
  const version = await getLatestDagVersion(db, opts.dagId);
  if (!version)
    throw new TriggerError(
      `DAG "${opts.dagId}" has no parsed version yet; start a worker or run \`updraft dags reserialize\``,
    );
  if (version.code_hash === null) {
    throw new TriggerError(
      `DAG "${opts.dagId}" version ${version.version_number} was stored before Updraft kept each version's code; ` +
        'start the worker (it parses the folder again) or run `updraft dags reserialize`, then trigger again',
    );
  }
  const conf = opts.conf ?? {};
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) {
    throw new TriggerError(
      `conf must be a JSON object like {"key": "value"}, got ${Array.isArray(conf) ? 'an array' : JSON.stringify(conf)}`,
    );
  }
  const nonFinite = nonFiniteNumberPath(conf, 'conf');
  if (nonFinite !== null) throw new TriggerError(nonFiniteNumberMessage(nonFinite));
  // Params are checked against their schemas before anything is recorded (Airflow's trigger does too).
  const paramProblems = validateRunParams(version.spec, conf as Record<string, Json>);
  if (paramProblems.length > 0)
    throw new TriggerError(`invalid params for DAG "${opts.dagId}": ${paramProblems.join('; ')}`);
  const micros = (opts.clock ?? systemMicroseconds)();
  const now = new Date(Number(micros / 1000n));
  const runType = opts.runType ?? DagRunType.MANUAL;
  const runId = opts.runId ?? defaultRunId(runType, micros);
  if (!RUN_ID_PATTERN.test(runId) || runId.length > 250) {
    throw new TriggerError(
      `run_id "${runId}" may contain only ASCII letters, digits and _ . : + - (at most 250 characters)`,
    );
  }
  const logicalDate = opts.logicalDate === undefined ? now : opts.logicalDate;
  const interval =
    opts.dataInterval === undefined
      ? logicalDate
        ? { start: logicalDate, end: logicalDate }
        : null
      : opts.dataInterval;
  const runAfter = opts.runAfter ?? now;
  const workflowId = dagRunWorkflowId(opts.dagId, runId);
  let created = true;
  let versionForRun = version;
  const record = (into: Kysely<Database>) =>
    createDagRun(into, {
      dag_id: opts.dagId,
      run_id: runId,
      state: 'queued',
      run_type: runType,
      workflow_id: workflowId,
      dag_version_id: version.id,
      logical_date: logicalDate,
      data_interval_start: interval?.start ?? null,
      data_interval_end: interval?.end ?? null,
      conf: conf as Record<string, unknown>,
      queued_at: now,
      run_after: runAfter,
      backfill_id: opts.backfillId ?? null,
      triggered_by: opts.triggeredBy ?? defaultTriggeredBy(runType),
    });
  try {
    const precondition = opts.precondition;
    if (precondition)
      await inTransaction(db, async (trx) => {
        await precondition(trx);
        await record(trx);
      });
    else await record(db);
  } catch (err) {
    if (err instanceof DagRunExistsError && opts.onExisting === 'same-run') {
      const existing = await getDagRun(db, opts.dagId, runId);
      if (!existing) throw err;
      const handle = client.workflow.getHandle<typeof dagRun>(existing.workflow_id);
      if (existing.state !== 'queued')
        return { dagId: opts.dagId, runId, workflowId: existing.workflow_id, handle, created: false };
      // Recorded but perhaps never started (a crash between the two): start it; Temporal refuses a second start.
      created = false;
      versionForRun =
        (existing.dag_version_id !== null ? await getDagVersion(db, existing.dag_version_id) : undefined) ?? version;
    } else if (err instanceof DagRunExistsError) {
      throw new TriggerError(
        opts.runId === undefined
          ? `another run of DAG "${opts.dagId}" was triggered at the same instant and took the default run_id "${runId}"; trigger again, or pass a run id of your own (--run-id)`
          : `a run with run_id "${runId}" already exists for DAG "${opts.dagId}"; pick another --run-id`,
      );
    } else {
      throw err;
    }
  }
  const input: DagRunInput = {
    dagId: opts.dagId,
    runId,
    runType,
    dagVersionId: versionForRun.id,
    specHash: versionForRun.spec_hash,
    logicalDate: logicalDate?.toISOString() ?? null,
    dataIntervalStart: interval?.start.toISOString() ?? null,
    dataIntervalEnd: interval?.end.toISOString() ?? null,
    runAfter: runAfter.toISOString(),
    conf: conf as Record<string, Json>,
    options: opts.runOptions,
  };
  const links = runLinks(opts.dagId, runId, opts.logsFolder);
  try {
    const handle = await client.workflow.start<typeof dagRun>(DAG_RUN_WORKFLOW, {
      workflowId,
      taskQueue: opts.runOptions.taskQueue,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      typedSearchAttributes: [
        { key: DAG_ID, value: opts.dagId },
        { key: DAG_RUN_ID, value: runId },
        { key: RUN_TYPE, value: runType },
        { key: DAG_RUN_STATE, value: 'queued' },
        ...(logicalDate ? [{ key: LOGICAL_DATE, value: logicalDate }] : []),
      ],
      memo: { dag_version: versionForRun.version_number, spec_hash: versionForRun.spec_hash, conf, ...links.memo },
      staticSummary: `${opts.dagId} · ${runId}`,
      staticDetails: `DAG **${opts.dagId}** version ${versionForRun.version_number} (\`${versionForRun.spec_hash.slice(0, 12)}\`), ${runType} run \`${runId}\`\n\n${links.details}`,
    });
    return { dagId: opts.dagId, runId, workflowId, handle, created };
  } catch (err) {
    if (!created && err instanceof WorkflowExecutionAlreadyStartedError) {
      return {
        dagId: opts.dagId,
        runId,
        workflowId,
        handle: client.workflow.getHandle<typeof dagRun>(workflowId),
        created: false,
      };
    }
    if (opts.onExisting === 'same-run' && !(err instanceof WorkflowExecutionAlreadyStartedError)) {
      throw new TemporalStartError(
        `could not start run "${runId}" of DAG "${opts.dagId}" in Temporal (it stays queued for the next attempt): ${(err as Error).message}`,
      );
    }
    const message =
      err instanceof WorkflowExecutionAlreadyStartedError
        ? `a workflow for run_id "${runId}" already exists in Temporal`
        : `could not start the run in Temporal: ${(err as Error).message}`;
    await updateDagRunState(db, opts.dagId, runId, 'failed', { end_date: new Date(), last_error: message });
    throw new TriggerError(message);
  }
}
