/**
 * The activity proxies the DAG-run workflow shares. Bookkeeping (loading the spec, recording
 * states) runs as local activities: short Postgres writes, retried quickly.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { createActivities } from '../../activities/index.js';

export type Activities = ReturnType<typeof createActivities>;

const BOOKKEEPING_RETRY = { initialInterval: '200 ms', maximumInterval: '10 seconds', maximumAttempts: 20 };

export const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: BOOKKEEPING_RETRY,
});

/** Bookkeeping as regular activities on the run's task queue, where a local one would not fit. */
export function bookkeepingActivities(taskQueue: string): Activities {
  return proxyActivities<Activities>({ taskQueue, startToCloseTimeout: '1 minute', retry: BOOKKEEPING_RETRY });
}
