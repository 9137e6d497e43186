/**
 * Shared pieces of the end-to-end workflow suites: the fixture DAGs folder, triggering a run and
 * waiting for it, reading its record back from Postgres, and finding a task's processes through
 * /proc (independently of the process executor, so a bug there cannot hide a survivor).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { triggerDagRun, type TriggeredRun } from '../../client/trigger.js';
import type { DagRunRow, TaskInstanceHistoryRow, TaskInstanceRow } from '../../db/database.js';
import { getDagRun } from '../../db/dag-run.repository.js';
import { listTaskInstanceHistory, listTaskInstances } from '../../db/task-instance.repository.js';
import type { Json } from '../../spec/dag-spec.js';
import type { DagRunResult } from '../../workflows/types.js';
import type { Stack } from '../../worker/stack.js';
import { expect } from 'chai';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { dagRunResult } from '../../client/run-result.js';

/** The fixture DAGs live in the source tree (the DAG bag transpiles them with esbuild). */
export const ENGINE_DAGS = path.resolve(__dirname, '../../../test/workflows/dags/engine');

/** A run id no other test (or earlier test run) uses; it also marks the run's processes. */
export function uniqueRunId(prefix: string): string {
  return `${prefix}__${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface FinishedRun {
  triggered: TriggeredRun;
  result: DagRunResult;
  run: DagRunRow;
  /** Task instances by task_id. */
  tis: Map<string, TaskInstanceRow>;
  history: TaskInstanceHistoryRow[];
}

export async function startRun(
  stack: Stack,
  dagId: string,
  opts: { runId?: string; conf?: Record<string, Json> } = {},
): Promise<TriggeredRun> {
  return triggerDagRun(stack.database.db, stack.client, {
    dagId,
    runId: opts.runId ?? uniqueRunId(dagId),
    conf: opts.conf ?? {},
    runOptions: stack.config.run,
    logsFolder: stack.config.logsFolder,
  });
}

/** Waits for the workflow's result, then reads the run back from the database. */
export async function finishRun(stack: Stack, triggered: TriggeredRun): Promise<FinishedRun> {
  const result = await dagRunResult(triggered.handle);
  return { triggered, result, ...(await readRun(stack, triggered.dagId, triggered.runId)) };
}

export async function runDag(
  stack: Stack,
  dagId: string,
  opts: { runId?: string; conf?: Record<string, Json> } = {},
): Promise<FinishedRun> {
  return finishRun(stack, await startRun(stack, dagId, opts));
}

export async function readRun(
  stack: Stack,
  dagId: string,
  runId: string,
): Promise<Omit<FinishedRun, 'triggered' | 'result'>> {
  const db = stack.database.db;
  const run = await getDagRun(db, dagId, runId);
  if (!run) throw new Error(`dag_run ${dagId}/${runId} is not in the database`);
  const tis = new Map((await listTaskInstances(db, dagId, runId)).map((ti) => [ti.task_id, ti]));
  const history = await listTaskInstanceHistory(db, dagId, runId);
  return { run, tis, history };
}

/** `{ "task[map_index]": [state, try_number] }` over every row of the run (mapped instances by index). */
export async function rowsOf(stack: Stack, run: FinishedRun): Promise<Record<string, [string | null, number]>> {
  const rows = await listTaskInstances(stack.database.db, run.triggered.dagId, run.triggered.runId);
  return Object.fromEntries(
    rows.map((r) => [r.map_index < 0 ? r.task_id : `${r.task_id}[${r.map_index}]`, [r.state, r.try_number]]),
  );
}

/** `{task_id: [state, try_number]}` for compact, complete assertions. */
export function statesOf(tis: Map<string, TaskInstanceRow>): Record<string, [string | null, number]> {
  return Object.fromEntries([...tis].map(([id, ti]) => [id, [ti.state, ti.try_number]]));
}

export function historyOf(history: TaskInstanceHistoryRow[], taskId: string): TaskInstanceHistoryRow[] {
  return history.filter((h) => h.task_id === taskId).sort((a, b) => a.try_number - b.try_number);
}

export function ti(tis: Map<string, TaskInstanceRow>, taskId: string): TaskInstanceRow {
  const row = tis.get(taskId);
  if (!row) throw new Error(`no task_instance row for task "${taskId}" (have: ${[...tis.keys()].join(', ')})`);
  return row;
}

/** Polls `check` until it returns a value other than undefined/false, or fails naming `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function procState(pid: string): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/**
 * Live (non-zombie) processes whose environment holds `NAME=value` exactly. Every process a task
 * starts, grandchildren included, inherits UPDRAFT_RUN_ID, so `UPDRAFT_RUN_ID=<run id>` finds them all.
 */
export function processesWithEnv(entry: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${name}/environ`, 'utf8');
    } catch {
      continue;
    }
    if (!environ.split('\0').includes(entry)) continue;
    const state = procState(name);
    if (state !== null && state !== 'Z' && state !== 'X') found.push(Number(name));
  }
  return found.sort((a, b) => a - b);
}

export function runProcesses(runId: string): number[] {
  return processesWithEnv(`UPDRAFT_RUN_ID=${runId}`);
}

/** Live members of a process group (read from /proc/<pid>/stat field 5). */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return members;
}

/** Waits until no process of the run is left; fails listing the survivors. */
export async function expectNoProcessesLeft(runId: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left = runProcesses(runId);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = runProcesses(runId);
  }
  if (left.length > 0) {
    const described = left.map((pid) => {
      try {
        return `${pid} (${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()})`;
      } catch {
        return String(pid);
      }
    });
    throw new Error(`processes of run ${runId} still alive after ${timeoutMs / 1000}s: ${described.join(', ')}`);
  }
}

/**
 * Mocha hooks that start a stack on dags/examples (Postgres record) for one suite and stop it
 * after; `assign` receives the stack. Also checks the example DAGs load without import errors.
 */
export function useExamplesStack(assign: (stack: TestStack) => void): void {
  useFixtureStack(path.resolve(__dirname, '../../../dags/examples'), assign);
}

/** useExamplesStack for any DAGs folder: a stack with a Postgres record, checked for import errors. */
export function useFixtureStack(dagsFolder: string, assign: (stack: TestStack) => void): void {
  let stack: TestStack | undefined;
  before(async function () {
    this.timeout(120_000);
    stack = await startTestStack({ dagsFolder, db: 'postgres' });
    assign(stack);
    expect(stack.bag.importErrors, `DAG import errors in ${dagsFolder}`).to.deep.equal([]);
  });
  after(async function () {
    this.timeout(60_000);
    await stack?.stop();
  });
}
