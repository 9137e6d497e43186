/**
 * The baseline for the hand-off benchmark: plain Temporal, no Updraft. N sequential no-op
 * activities; each activity reports its start and end time, so hand-off is measured the same way.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities.js';

const { noop } = proxyActivities<typeof activities>({ startToCloseTimeout: '1 minute' });

export async function sequentialNoops(n: number): Promise<Array<[number, number]>> {
  const spans: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) spans.push(await noop());
  return spans;
}
