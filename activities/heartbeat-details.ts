/**
 * What a try's runTask activity heartbeats: which task, instance and try it is (the Temporal UI
 * shows this in the run's pending activities) and the executor's handle, which the next attempt of
 * the same try reads back after a worker crash to re-attach to or clean up the work.
 */
import type { RunTaskRequest } from '../workflows/types.js';
import type { ExecutorHandle } from './executors/types.js';

export interface TryHeartbeat {
  dag_id: string;
  run_id: string;
  task_id: string;
  /** -1 for an unmapped task. */
  map_index: number;
  try_number: number;
  /** Null until the executor has started the work. */
  handle: ExecutorHandle | null;
}

export function tryHeartbeat(req: RunTaskRequest, handle: ExecutorHandle | undefined): TryHeartbeat {
  return {
    dag_id: req.dagId,
    run_id: req.runId,
    task_id: req.task.task_id,
    map_index: req.mapIndex,
    try_number: req.tryNumber,
    handle: handle ?? null,
  };
}

/**
 * The executor handle in an earlier attempt's heartbeat details: a TryHeartbeat's `handle`, or —
 * from a worker that ran before TryHeartbeat existed — the bare handle itself.
 */
export function handleFromHeartbeat(details: unknown): ExecutorHandle | undefined {
  if (details === null || typeof details !== 'object' || Array.isArray(details)) return undefined;
  const d = details as Record<string, unknown>;
  if ('try_number' in d && 'handle' in d) return isHandle(d.handle) ? d.handle : undefined;
  return isHandle(d) ? d : undefined;
}

function isHandle(value: unknown): value is ExecutorHandle {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.executor === 'string' && typeof v.id === 'string';
}
