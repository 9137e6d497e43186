/**
 * The CLI side of operator actions (`tasks clear`, `tasks set-state`, `dags set-run-state`): plan,
 * confirm where Airflow asks to, apply, print what changed, and optionally wait for the run.
 */
import { createInterface } from 'node:readline/promises';
import { clearAcrossRuns, type ClearAcrossRunsRequest, type RunClearOutcome } from '../client/clear-across-runs.js';
import { applyOperatorAction, OperatorActionError, type OperatorActionOutcome } from '../client/operator-actions.js';
import { getDagRun } from '../db/dag-run.repository.js';
import { listTaskInstances } from '../db/task-instance.repository.js';
import type { OperatorAction } from '../engine/operator-actions.js';
import { loadConfig } from '../worker/config.js';
import { CliError, print, type OutputFormat } from './output.js';
import { openCliDatabase, openCliTemporal, workflowUiUrl } from './runtime.js';
import { dagRunResult } from '../client/run-result.js';

export interface OperatorCommand {
  dagId: string;
  runId: string;
  action: OperatorAction;
  format: OutputFormat;
  /** Ask before changing anything unless `yes` (Airflow's `tasks clear` does). */
  confirm?: { yes: boolean; question: string };
  /** Wait for the run to end and print its task states; the exit code says how it ended. */
  wait?: boolean;
}

export async function runOperatorCommand(cmd: OperatorCommand): Promise<void> {
  const config = loadConfig();
  const h = await openCliDatabase(config);
  const t = await openCliTemporal(config);
  try {
    const apply = (action: OperatorAction): Promise<OperatorActionOutcome> =>
      applyOperatorAction(h.db, t.client, {
        dagId: cmd.dagId,
        runId: cmd.runId,
        action,
        runOptions: config.run,
        logsFolder: config.logsFolder,
      }).catch((err) => {
        if (err instanceof OperatorActionError) throw new CliError(err.message);
        throw err;
      });
    if (cmd.confirm && !cmd.confirm.yes && cmd.action.dry_run !== true) {
      const plan = await apply({ ...cmd.action, dry_run: true });
      if (plan.changes.length === 0) {
        process.stdout.write('No task instances to change\n');
        return;
      }
      printChanges(plan, cmd.format);
      if (!(await confirmed(cmd.confirm.question))) return;
    }
    const outcome = await apply(cmd.action);
    if (cmd.format === 'json') {
      process.stdout.write(`${JSON.stringify({ dag_id: cmd.dagId, run_id: cmd.runId, ...outcome }, null, 2)}\n`);
    } else {
      printChanges(outcome, cmd.format);
      process.stdout.write(`${summary(outcome)}\n`);
      if (t.uiUrl && !outcome.dry_run && outcome.changes.length > 0)
        process.stdout.write(`Temporal UI: ${workflowUiUrl(t.uiUrl, config.namespace, outcome.workflowId)}\n`);
    }
    if (cmd.wait && !outcome.dry_run) {
      // result() follows the run into a re-opened execution and through continue-as-new.
      const result = await dagRunResult(t.client.workflow.getHandle(outcome.workflowId));
      const run = await getDagRun(h.db, cmd.dagId, cmd.runId);
      const tis = await listTaskInstances(h.db, cmd.dagId, cmd.runId);
      if (cmd.format === 'table') {
        print(
          tis.map((ti) => ({
            task_id: ti.task_id,
            map_index: ti.map_index,
            state: ti.state,
            try_number: ti.try_number,
          })),
          ['task_id', 'map_index', 'state', 'try_number'],
          'table',
        );
        process.stdout.write(`DAG run ${cmd.runId}: ${run?.state ?? result.state}\n`);
      }
      if (result.state !== 'success') process.exitCode = 1;
    }
  } finally {
    await t.close();
    await h.close();
  }
}

/** Asks on the terminal; refuses without one (Airflow's `tasks clear` asks too). */
async function confirmed(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new CliError(
      `${question} Not asking without a terminal: add -y (--yes) to confirm, or --dry-run to only list them`,
      2,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`${question} [y/n] `).finally(() => rl.close());
  if (/^y(es)?$/i.test(answer.trim())) return true;
  process.stdout.write('Cancelled, nothing was changed\n');
  return false;
}

export interface ClearAcrossRunsCommand {
  dagId: string;
  request: Omit<ClearAcrossRunsRequest, 'dagId' | 'runOptions'>;
  format: OutputFormat;
  yes: boolean;
  wait?: boolean;
}

/**
 * `tasks clear <dag_id>` without a run id: the matching task instances of every run (within -s/-e),
 * one confirmation for all of them, then each run's clear.
 */
export async function runClearAcrossRunsCommand(cmd: ClearAcrossRunsCommand): Promise<void> {
  const config = loadConfig();
  const h = await openCliDatabase(config);
  const t = await openCliTemporal(config);
  try {
    const apply = (dryRun: boolean): Promise<RunClearOutcome[]> =>
      clearAcrossRuns(h.db, t.client, {
        ...cmd.request,
        dagId: cmd.dagId,
        runOptions: config.run,
        action: { ...cmd.request.action, dry_run: dryRun },
      }).catch((err) => {
        if (err instanceof OperatorActionError) throw new CliError(err.message);
        throw err;
      });
    const dryRun = cmd.request.action.dry_run === true;
    if (!cmd.yes && !dryRun) {
      const plan = await apply(true);
      if (plan.every((r) => r.outcome.changes.length === 0)) {
        process.stdout.write('No task instances to change\n');
        return;
      }
      printRunChanges(plan, cmd.format);
      if (!(await confirmed('You are about to clear these task instances. Are you sure?'))) return;
    }
    const outcomes = await apply(dryRun);
    const changed = outcomes.filter((r) => r.outcome.changes.length > 0);
    if (cmd.format === 'json') {
      process.stdout.write(
        `${JSON.stringify(
          outcomes.map((r) => ({ dag_id: cmd.dagId, run_id: r.runId, ...r.outcome })),
          null,
          2,
        )}\n`,
      );
    } else {
      printRunChanges(outcomes, cmd.format);
      const n = changed.reduce((sum, r) => sum + r.outcome.changes.length, 0);
      const reopened = changed.filter((r) => r.outcome.reopened).length;
      process.stdout.write(
        dryRun
          ? `Dry run: ${n} task instance(s) in ${changed.length} run(s) would change; nothing was changed\n`
          : n === 0
            ? 'Nothing to change\n'
            : `${n} task instance(s) in ${changed.length} run(s) changed${reopened > 0 ? ` (${reopened} finished run(s) re-opened)` : ''}\n`,
      );
    }
    if (cmd.wait && !dryRun) {
      const states: Array<{ run_id: string; state: string }> = [];
      for (const r of changed) {
        const result = (await t.client.workflow.getHandle(r.outcome.workflowId).result()) as { state: string };
        states.push({ run_id: r.runId, state: (await getDagRun(h.db, cmd.dagId, r.runId))?.state ?? result.state });
      }
      if (cmd.format === 'table') print(states, ['run_id', 'state'], 'table');
      if (states.some((s) => s.state !== 'success')) process.exitCode = 1;
    }
  } finally {
    await t.close();
    await h.close();
  }
}

function printRunChanges(outcomes: RunClearOutcome[], format: OutputFormat): void {
  if (format === 'json') return;
  const rows = outcomes.flatMap((r) =>
    r.outcome.changes.map((c) => ({
      run_id: r.runId,
      task_id: c.task_id,
      from_state: c.from,
      to_state: c.to === 'none' ? 'none (runs again)' : c.to,
    })),
  );
  print(rows, ['run_id', 'task_id', 'from_state', 'to_state'], 'table');
}

function printChanges(outcome: Pick<OperatorActionOutcome, 'changes'>, format: OutputFormat): void {
  if (format === 'json') return;
  print(
    outcome.changes.map((c) => ({
      task_id: c.task_id,
      from_state: c.from,
      to_state: c.to === 'none' ? 'none (runs again)' : c.to,
    })),
    ['task_id', 'from_state', 'to_state'],
    'table',
  );
}

function summary(o: OperatorActionOutcome): string {
  const n = o.changes.length;
  if (o.dry_run) return `Dry run: ${n} task instance(s) would change; nothing was changed`;
  const run = o.forced_run_state
    ? `; the run is marked ${o.forced_run_state}${n > 0 ? ' once its teardowns finish' : ''}`
    : '';
  if (n === 0 && !o.forced_run_state) return 'Nothing to change';
  if (n === 0)
    return `The run is marked ${o.forced_run_state}${o.reopened ? ' (the finished run was re-opened as a new workflow execution)' : ''}`;
  return `${n} task instance(s) changed${run}${o.reopened ? ' (the finished run was re-opened as a new workflow execution)' : ''}`;
}
