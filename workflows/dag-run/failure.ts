/**
 * A failed run's message, as the Temporal UI shows it on the Failed workflow: the root-cause tasks
 * and their errors first, then how many tasks that cost, then the run's reason where it says more
 * (a timeout, a cancel, an operator, a deadlock). Pure: the failed rows come from Postgres.
 */
import type { FailedTasksResult } from '../types.js';

/** How many failed tasks a message names; the rest are counted. */
export const NAMED_FAILURES = 5;
/** An error is cut to this many characters in the message (the task log has all of it). */
const ERROR_CHARS = 500;

export function failureMessage(
  reason: string | null,
  failed: FailedTasksResult,
  counts: Readonly<Record<string, number>>,
): string {
  const parts: string[] = [];
  // The leaves' summary (engine/dag-run-state.ts) only repeats what the failed tasks say.
  const leavesOnly = reason !== null && /^\d+ leaf task\(s\) failed: /.test(reason);
  if (reason !== null && !(leavesOnly && failed.total > 0)) parts.push(reason);
  for (const t of failed.tasks) {
    const label = t.map_index >= 0 ? `${t.task_id}[${t.map_index}]` : t.task_id;
    parts.push(
      `task "${label}" failed: ${t.error === null || t.error === '' ? 'no error recorded' : oneLine(t.error)}`,
    );
  }
  if (failed.total > failed.tasks.length)
    parts.push(`${failed.total - failed.tasks.length} more task instance(s) failed`);
  const upstreamFailed = counts.upstream_failed ?? 0;
  if (upstreamFailed > 0) parts.push(`${upstreamFailed} task(s) upstream_failed`);
  return parts.length > 0 ? parts.join('; ') : 'the run failed';
}

/** The error on one line, without a function's stack frames (the task log keeps them). */
function oneLine(error: string): string {
  const lines = error
    .trim()
    .split('\n')
    .filter((l) => !/^\s*at\s/.test(l))
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const flat = lines.join(' | ');
  return flat.length > ERROR_CHARS ? `${flat.slice(0, ERROR_CHARS)}…` : flat;
}
