/**
 * Driving data-aware runs: claim the runs that are due (db/asset-triggered-run.repository.ts), start
 * each one, mark it started; and first re-drive claims a crashed consumer left behind. Starting is
 * the caller's (a Temporal workflow start, wired by the worker); it must be idempotent on
 * (dag_id, run_id): a re-driven claim may already have been started before the crash.
 */
import type { Kysely } from 'kysely';
import { claimedAssetTriggeredRuns, consumeReadyRun, markAssetTriggeredRunStarted, type AssetTriggeredRun } from '../db/asset-triggered-run.repository.js';
import type { Database } from '../db/database.js';
import type { AssetConditionSpec } from '../spec/dag-spec.js';

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
}

export interface DriveResult {
  /** Runs started in this pass: re-driven claims first, then new claims. */
  started: AssetTriggeredRun[];
  redriven: number;
  /** DAGs another consumer was deciding for. */
  busy: string[];
}

/** One pass over the consumers: re-drive stale claims, then claim and start what is due. */
export async function driveAssetTriggeredRuns(
  db: Kysely<Database>,
  consumers: readonly AssetConsumer[],
  start: StartAssetTriggeredRun,
  opts: DriveOptions = {},
): Promise<DriveResult> {
  const result: DriveResult = { started: [], redriven: 0, busy: [] };
  const launch = async (run: AssetTriggeredRun): Promise<void> => {
    await start(run);
    await markAssetTriggeredRunStarted(db, run.dag_id, run.run_id);
    result.started.push(run);
  };
  for (const run of await claimedAssetTriggeredRuns(db, { olderThanSeconds: opts.redriveAfterSeconds ?? 30 })) {
    await launch(run);
    result.redriven++;
  }
  for (const c of consumers) {
    const outcome = await consumeReadyRun(db, c.dagId, c.condition);
    if (outcome.status === 'busy') result.busy.push(c.dagId);
    if (outcome.status === 'claimed') await launch(outcome.run);
  }
  return result;
}
