/**
 * The one-line progress of a run that `--wait` shows on a terminal: how many task instances are
 * done of how many, which run, which failed. Pure, so the format is unit-tested.
 */
import { isFinished, type TaskInstanceState } from '../spec/states.js';
import { formatSeconds } from '../sdk/duration.js';

export interface ProgressRow {
  task_id: string;
  map_index: number;
  state: string | null;
}

/** A task instance as people read it: `train`, or `train[3]` for a mapped instance. */
export function instanceLabel(row: Pick<ProgressRow, 'task_id' | 'map_index'>): string {
  return row.map_index >= 0 ? `${row.task_id}[${row.map_index}]` : row.task_id;
}

/** Names at most this many instances per list; the rest are counted. */
const NAMED = 3;

export function progressLine(
  runId: string,
  runState: string,
  rows: readonly ProgressRow[],
  elapsedSeconds: number,
): string {
  const finished = new Map<string, number>();
  const running: string[] = [];
  const failed: string[] = [];
  for (const r of rows) {
    const state = r.state ?? 'none';
    if (isFinished(state as TaskInstanceState)) finished.set(state, (finished.get(state) ?? 0) + 1);
    if (state === 'running') running.push(instanceLabel(r));
    if (state === 'failed') failed.push(instanceLabel(r));
  }
  const done = [...finished.values()].reduce((a, b) => a + b, 0);
  const byState = [...finished]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const parts = [
    `run ${runId}: ${runState}`,
    `${done}/${rows.length} done${byState ? ` (${byState})` : ''}`,
    ...(running.length > 0 ? [`running: ${named(running)}`] : []),
    ...(failed.length > 0 ? [`failed: ${named(failed)}`] : []),
    formatSeconds(elapsedSeconds),
  ];
  return parts.join(' · ');
}

function named(labels: readonly string[]): string {
  const shown = labels.slice(0, NAMED).join(', ');
  return labels.length > NAMED ? `${shown} +${labels.length - NAMED} more` : shown;
}

/** Cuts a line to a terminal's width (one column spare, so it never wraps). */
export function fitWidth(line: string, columns: number | undefined): string {
  if (columns === undefined || columns < 10 || line.length < columns) return line;
  return `${line.slice(0, columns - 2)}…`;
}
