/**
 * What the Temporal UI shows of a run while it runs: the workflow's current details, a table of
 * task counts by state (and, once a run failed, why), sent again only when it changed.
 */
import { setCurrentDetails } from '@temporalio/workflow';
import type { RunState } from './state.js';

export function publishDetails(run: RunState, failure?: string): void {
  const { graph } = run;
  const counts = graph.countsByState();
  const rows = Object.entries(counts)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([state, n]) => `| ${state} | ${n} |`)
    .join('\n');
  const table = `**${run.dagId}** · \`${run.runId}\` · ${graph.size} tasks\n\n| state | tasks |\n|---|---|\n${rows}`;
  const md = failure === undefined ? table : `${table}\n\n**failed**: ${failure}`;
  if (md !== run.lastDetails) setCurrentDetails(md);
  run.lastDetails = md;
}
