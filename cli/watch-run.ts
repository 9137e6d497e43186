/**
 * Follows a DAG run in Postgres until it ends: on a terminal, one progress line updated in place
 * (cli/run-progress.ts); piped, a line per change. The full table of task instances (mapped ones
 * as `task[3]`) comes once, at the end. Returns the run's final state.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { getDagRun } from '../db/dag-run.repository.js';
import { listTaskInstances } from '../db/task-instance.repository.js';
import { formatSeconds } from '../sdk/duration.js';
import { print, renderTable, type OutputFormat } from './output.js';
import { fitWidth, instanceLabel, progressLine } from './run-progress.js';

const TERMINAL = new Set(['success', 'failed']);

/** Where the table format goes: the process's stdout unless a test passes another. */
export interface WatchOutput {
  write(text: string): unknown;
  /** The terminal's width (a live progress line is cut to it). */
  columns?: number;
}

export async function watchRun(
  db: Kysely<Database>,
  dagId: string,
  runId: string,
  opts: { format: OutputFormat; live: boolean; pollMs?: number; timeoutMs?: number; out?: WatchOutput },
): Promise<string> {
  const out = opts.out ?? process.stdout;
  const seen = new Map<string, string>();
  const started = Date.now();
  let drawn = false;
  for (;;) {
    const run = await getDagRun(db, dagId, runId);
    const tis = await listTaskInstances(db, dagId, runId);
    const rows = tis.map((t) => ({
      task_id: t.task_id,
      map_index: t.map_index,
      state: t.state,
      try_number: t.try_number,
      duration: t.duration == null ? '' : formatSeconds(t.duration),
      exit_code: t.exit_code,
    }));
    // Tables and change lines name a mapped instance `task[3]`; JSON keeps task_id and map_index.
    const labelled = rows.map((r) => ({ ...r, task_id: instanceLabel(r) }));
    const done = run !== undefined && TERMINAL.has(run.state);
    if (opts.format === 'table') {
      if (opts.live) {
        const line = progressLine(runId, run?.state ?? 'queued', tis, Math.floor((Date.now() - started) / 1000));
        out.write(`\r\x1b[K${fitWidth(line, out.columns)}`);
        drawn = true;
      } else {
        for (const r of labelled) {
          const key = `${r.state}#${r.try_number}`;
          if (seen.get(r.task_id) !== key) {
            seen.set(r.task_id, key);
            if (r.state !== 'none')
              out.write(
                `${new Date().toISOString()} ${r.task_id} ${r.state}${r.try_number > 1 ? ` (try ${r.try_number})` : ''}\n`,
              );
          }
        }
      }
    }
    if (done) {
      if (opts.format === 'table') {
        if (drawn) out.write('\n');
        out.write(`\n${renderTable(labelled, ['task_id', 'state', 'try_number', 'duration', 'exit_code'])}\n`);
        out.write(`\nDAG run ${dagId} / ${runId}: ${run.state}${run.last_error ? ` (${run.last_error})` : ''}\n`);
      } else {
        print(
          [{ dag_id: dagId, run_id: runId, state: run.state, last_error: run.last_error, tasks: rows }],
          ['dag_id', 'run_id', 'state', 'last_error', 'tasks'],
          'json',
        );
      }
      return run.state;
    }
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) {
      if (drawn) out.write('\n');
      return run?.state ?? 'queued';
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 300));
  }
}
