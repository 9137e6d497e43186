/**
 * Driving data-aware runs: claim the runs that are due (db/asset-triggered-run.repository.ts), start
 * each one, mark it started; and first re-drive claims a crashed consumer left behind. Starting is
 * the caller's (assetRunStarter: the trigger path; the worker wires it, worker/asset-runs.ts); it
 * must be idempotent on (dag_id, run_id): a re-driven claim may already have been started before
 * the crash.
 */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import {
  consumeReadyRun,
  markAssetTriggeredRunFailed,
  markAssetTriggeredRunStarted,
  takeStaleClaims,
  type AssetTriggeredRun,
} from '../db/asset-triggered-run.repository.js';
import type { Database } from '../db/database.js';
import type { AssetConditionSpec } from '../spec/dag-spec.js';
import { DagRunType } from '../spec/states.js';
import type { RunOptions } from '../workflows/types.js';
import { TriggerError, triggerDagRun } from './trigger.js';

/** A DAG scheduled on assets (its spec's timetable `{ type: 'assets', condition }`). */
export interface AssetConsumer {
  dagId: string;
  condition: AssetConditionSpec;
}

/**
 * Starts a claimed run. Must be idempotent: starting a run that already started (same dag_id and
 * run_id) succeeds without a second run, e.g. by a workflow id derived from them and treating
 * WorkflowExecutionAlreadyStarted as done.
 */
export type StartAssetTriggeredRun = (run: AssetTriggeredRun) => Promise<void>;

export interface DriveOptions {
  /**
   * Re-drive claims at least this old (seconds, database clock). A claim younger than this may be
   * a live consumer's, about to be started by it; starting it here too is harmless (starts are
   * idempotent) but wasted. Default 30.
   */
  redriveAfterSeconds?: number;
  /**
   * Whether a start error means the run can never start (its claim is then marked failed with the
   * message, instead of being re-driven). Default: none is (every failure is retried).
   */
  isPermanent?: (err: unknown) => boolean;
}

export interface DriveResult {
  /** Runs started in this pass: re-driven claims first, then new claims. */
  started: AssetTriggeredRun[];
  redriven: number;
  /** DAGs another consumer was deciding for. */
  busy: string[];
  /** Runs whose start failed: left claimed for a later pass, or failed for good (`permanent`). */
  errors: Array<{ dag_id: string; run_id: string; error: string; permanent: boolean }>;
}

/**
 * One pass over the consumers: re-drive stale claims, then claim and start what is due. A run that
 * fails to start does not stop the pass: it is reported in `errors` and stays claimed (re-driven
 * after redriveAfterSeconds) unless its error is permanent.
 */
export async function driveAssetTriggeredRuns(
  db: Kysely<Database>,
  consumers: readonly AssetConsumer[],
  start: StartAssetTriggeredRun,
  opts: DriveOptions = {},
): Promise<DriveResult> {
  const result: DriveResult = { started: [], redriven: 0, busy: [], errors: [] };
  const launch = async (run: AssetTriggeredRun): Promise<boolean> => {
    try {
      await start(run);
    } catch (err) {
      const permanent = opts.isPermanent?.(err) ?? false;
      const error = err instanceof Error ? err.message : String(err);
      if (permanent) await markAssetTriggeredRunFailed(db, run.dag_id, run.run_id, error);
      result.errors.push({ dag_id: run.dag_id, run_id: run.run_id, error, permanent });
      return false;
    }
    await markAssetTriggeredRunStarted(db, run.dag_id, run.run_id);
    result.started.push(run);
    return true;
  };
  for (const run of await takeStaleClaims(db, { olderThanSeconds: opts.redriveAfterSeconds ?? 30 })) {
    if (await launch(run)) result.redriven++;
  }
  for (const c of consumers) {
    const outcome = await consumeReadyRun(db, c.dagId, c.condition);
    if (outcome.status === 'busy') result.busy.push(c.dagId);
    if (outcome.status === 'claimed') await launch(outcome.run);
  }
  return result;
}

export interface AssetRunStarterOptions {
  runOptions: RunOptions;
  /** The workers' task-log folder, for the run's links in the Temporal UI. */
  logsFolder?: string | null;
}

/**
 * Starts a claimed data-aware run the way a trigger starts any run (client/trigger.ts): the same
 * record, the same dagRun workflow and search attributes, with run type asset_triggered, no logical
 * date and no data interval (Airflow 3), run_after the newest event consumed, and the claim's run
 * id. Idempotent (onExisting 'same-run'): a re-driven claim starts its recorded run if it never
 * started, and a workflow already started is that run.
 */
export function assetRunStarter(
  db: Kysely<Database>,
  client: Client,
  opts: AssetRunStarterOptions,
): StartAssetTriggeredRun {
  return async (run) => {
    await triggerDagRun(db, client, {
      dagId: run.dag_id,
      runId: run.run_id,
      runType: DagRunType.ASSET_TRIGGERED,
      logicalDate: null,
      dataInterval: null,
      runAfter: run.run_after,
      onExisting: 'same-run',
      runOptions: opts.runOptions,
      logsFolder: opts.logsFolder ?? null,
    });
  };
}

/** A TriggerError (the DAG is gone, its params reject an empty conf) will not pass on a retry; a TemporalStartError (an outage) will. */
export function isPermanentStartError(err: unknown): boolean {
  return err instanceof TriggerError;
}
