/**
 * Follows a DAG run in Postgres until it ends: a live table of task states on a terminal, a line
 * per change otherwise. Returns the run's final state.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { getDagRun } from '../db/dag-run.repository.js';
import { listTaskInstances } from '../db/task-instance.repository.js';
import { formatSeconds } from '../sdk/duration.js';
import { print, renderTable, type OutputFormat } from './output.js';

const TERMINAL = new Set(['success', 'failed']);

export async function watchRun(
  db: Kysely<Database>,
  dagId: string,
  runId: string,
  opts: { format: OutputFormat; live: boolean; pollMs?: number; timeoutMs?: number },
): Promise<string> {
  const seen = new Map<string, string>();
  const started = Date.now();
  let drawnLines = 0;
  for (;;) {
    const run = await getDagRun(db, dagId, runId);
    const tis = await listTaskInstances(db, dagId, runId);
    const rows = tis.map((t) => ({
      task_id: t.task_id, state: t.state, try_number: t.try_number,
      duration: t.duration == null ? '' : formatSeconds(t.duration), exit_code: t.exit_code,
    }));
    const done = run !== undefined && TERMINAL.has(run.state);
    if (opts.format === 'table') {
      if (opts.live) {
        const text = `${renderTable(rows, ['task_id', 'state', 'try_number', 'duration'])}\nrun ${runId}: ${run?.state ?? 'queued'} (${formatSeconds((Date.now() - started) / 1000)})`;
        if (drawnLines > 0) process.stdout.write(`\x1b[${drawnLines}A\x1b[J`);
        process.stdout.write(`${text}\n`);
        drawnLines = text.split('\n').length;
      } else {
        for (const r of rows) {
          const key = `${r.state}#${r.try_number}`;
          if (seen.get(r.task_id) !== key) {
            seen.set(r.task_id, key);
            if (r.state !== 'none') process.stdout.write(`${new Date().toISOString()} ${r.task_id} ${r.state}${r.try_number > 1 ? ` (try ${r.try_number})` : ''}\n`);
          }
        }
      }
    }
    if (done) {
      if (opts.format === 'table') {
        if (!opts.live) process.stdout.write(`\n${renderTable(rows, ['task_id', 'state', 'try_number', 'duration', 'exit_code'])}\n`);
        process.stdout.write(`\nDAG run ${dagId} / ${runId}: ${run.state}${run.last_error ? ` (${run.last_error})` : ''}\n`);
      } else {
        print([{ dag_id: dagId, run_id: runId, state: run.state, last_error: run.last_error, tasks: rows }], ['dag_id', 'run_id', 'state', 'last_error', 'tasks'], 'json');
      }
      return run.state;
    }
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) return run?.state ?? 'queued';
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 300));
  }
}
