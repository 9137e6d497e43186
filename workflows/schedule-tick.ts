/**
 * The action of a DAG's Temporal Schedule: one activity creates the DAG's scheduled runs that are
 * due and sets the schedule's next fire times (client/schedules.ts). Kept tiny so the Schedule's
 * "recent actions" in the Temporal UI read as one line per fire.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ScheduleActivities, ScheduleTickInput, ScheduleTickResult } from './types.js';

const { createScheduledRuns } = proxyActivities<ScheduleActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export async function scheduleTick(input: ScheduleTickInput): Promise<ScheduleTickResult> {
  return createScheduledRuns(input);
}
