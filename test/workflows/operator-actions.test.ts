/// <reference types="mocha" />
/**
 * Operator actions on the real stack (Temporal dev server + Postgres): clear (downstream,
 * only_failed, setups/teardowns, mapped tasks, retries anew), mark a task success/failed, mark a
 * run success/failed — on runs in flight (a Temporal update; a running try is stopped) and on
 * finished runs (re-opened as a new execution under the same workflow id). Every test asserts each
 * task's final state and try_number in Postgres.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { applyOperatorAction, OperatorActionError, type OperatorActionOutcome } from '../../client/operator-actions.js';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import type { OperatorAction } from '../../engine/operator-actions.js';
import { operatorActionUpdate } from '../../workflows/messages.js';
import type { DagRunResult } from '../../workflows/types.js';
import { tempDir } from '../helpers/servers.js';
import type { TestStack } from '../helpers/stack.js';
import {
  expectNoProcessesLeft,
  finishRun,
  historyOf,
  readRun,
  runProcesses,
  startRun,
  statesOf,
  useFixtureStack,
  waitFor,
} from './helpers.js';
import { dagRunResult } from '../../client/run-result.js';

const FIXTURES = path.resolve(__dirname, '../../../test/workflows/dags/operator');

describe('operator actions: clear, mark tasks, mark runs', function () {
  let stack: TestStack;
  useFixtureStack(FIXTURES, (s) => (stack = s));

  const act = (
    dagId: string,
    runId: string,
    action: OperatorAction | Record<string, unknown>,
  ): Promise<OperatorActionOutcome> =>
    applyOperatorAction(stack.database.db, stack.client, { dagId, runId, action, runOptions: stack.config.run });
  /** The run's result, following it into re-opened executions. */
  const resultOf = (workflowId: string): Promise<DagRunResult> =>
    dagRunResult(stack.client.workflow.getHandle(workflowId));
  const executions = async (workflowId: string): Promise<string[]> => {
    const statuses: string[] = [];
    for await (const w of stack.client.workflow.list({ query: `WorkflowId = '${workflowId}'` }))
      statuses.push(w.status.name);
    return statuses;
  };
  const changesOf = (o: OperatorActionOutcome): string[] => o.changes.map((c) => `${c.task_id}:${c.from}->${c.to}`);
  /** Starts op_slow and waits until `slow` runs, its process alive. */
  const startSlow = async (): Promise<{
    dir: string;
    triggered: Awaited<ReturnType<typeof startRun>>;
    runId: string;
  }> => {
    const dir = tempDir('op');
    const triggered = await startRun(stack, 'op_slow', { conf: { dir } });
    const runId = triggered.runId;
    await waitFor(
      'slow to be running with its process past its flag check',
      async () =>
        (await stateOfTask('op_slow', runId, 'slow')) === 'running' &&
        runProcesses(runId).length > 0 &&
        fs.existsSync(path.join(dir, 'slow.sleeping')),
    );
    return { dir, triggered, runId };
  };
  const stateOfTask = async (dagId: string, runId: string, taskId: string): Promise<string | null> =>
    (await listTaskInstances(stack.database.db, dagId, runId)).find((t) => t.task_id === taskId)?.state ?? null;

  it('clears a failed task and its downstream in a finished run: a re-opened execution runs them with the next try', async function () {
    this.timeout(90_000);
    const dir = tempDir('op');
    const first = await finishRun(stack, await startRun(stack, 'op_gate', { conf: { dir } }));
    expect(first.result.state).to.equal('failed');
    expect(statesOf(first.tis)).to.deep.equal({
      start: ['success', 1],
      gate: ['failed', 1],
      after: ['upstream_failed', 0],
    });

    fs.writeFileSync(path.join(dir, 'gate'), '');
    const outcome = await act('op_gate', first.triggered.runId, {
      kind: 'clear',
      task_ids: ['gate'],
      downstream: true,
    });
    expect(outcome.reopened).to.equal(true);
    expect(changesOf(outcome)).to.deep.equal(['gate:failed->none', 'after:upstream_failed->none']);

    const result = await resultOf(outcome.workflowId);
    expect(result.state).to.equal('success');
    const { run, tis, history } = await readRun(stack, 'op_gate', first.triggered.runId);
    expect(run.state).to.equal('success');
    expect(run.end_date).to.not.equal(null);
    expect(statesOf(tis)).to.deep.equal({ start: ['success', 1], gate: ['success', 2], after: ['success', 1] });
    expect(historyOf(history, 'gate').map((h) => [h.try_number, h.state])).to.deep.equal([
      [1, 'failed'],
      [2, 'success'],
    ]);
    expect(tis.get('gate')!.max_tries).to.equal(
      2,
      'a cleared task gets its tries anew: max_tries = try_number + retries + 1',
    );
    // The first execution's history stays in Temporal next to the re-opened one.
    expect((await executions(outcome.workflowId)).sort()).to.deep.equal(['COMPLETED', 'FAILED']);
  });

  it('only_failed clears just the failed and upstream_failed tasks of the whole run; a dry run changes nothing', async function () {
    this.timeout(90_000);
    const dir = tempDir('op');
    const first = await finishRun(stack, await startRun(stack, 'op_gate', { conf: { dir } }));
    const runId = first.triggered.runId;

    const dry = await act('op_gate', runId, { kind: 'clear', only_failed: true, dry_run: true });
    expect(dry.dry_run).to.equal(true);
    expect(dry.reopened).to.equal(false);
    expect(changesOf(dry)).to.deep.equal(['gate:failed->none', 'after:upstream_failed->none']);
    expect((await readRun(stack, 'op_gate', runId)).run.state).to.equal('failed');
    expect(await executions(first.triggered.workflowId)).to.have.length(1);

    fs.writeFileSync(path.join(dir, 'gate'), '');
    const outcome = await act('op_gate', runId, { kind: 'clear', only_failed: true });
    expect(changesOf(outcome)).to.deep.equal(changesOf(dry));
    expect((await resultOf(outcome.workflowId)).state).to.equal('success');
    expect(statesOf((await readRun(stack, 'op_gate', runId)).tis)).to.deep.equal({
      start: ['success', 1],
      gate: ['success', 2],
      after: ['success', 1],
    });
  });

  it('marks a failed task success in a finished run; its upstream_failed downstream runs only once cleared', async function () {
    this.timeout(90_000);
    const dir = tempDir('op');
    const first = await finishRun(stack, await startRun(stack, 'op_gate', { conf: { dir } }));
    const runId = first.triggered.runId;

    const marked = await act('op_gate', runId, { kind: 'set_task_state', task_ids: ['gate'], state: 'success' });
    expect(marked.reopened).to.equal(true);
    expect(changesOf(marked)).to.deep.equal(['gate:failed->success']);
    // Airflow: marking a task leaves its downstream as it is; the leaf `after` still fails the run.
    expect((await resultOf(marked.workflowId)).state).to.equal('failed');
    expect(statesOf((await readRun(stack, 'op_gate', runId)).tis)).to.deep.equal({
      start: ['success', 1],
      gate: ['success', 1],
      after: ['upstream_failed', 0],
    });

    const cleared = await act('op_gate', runId, { kind: 'clear', task_ids: ['after'] });
    expect(changesOf(cleared)).to.deep.equal(['after:upstream_failed->none']);
    expect((await resultOf(cleared.workflowId)).state).to.equal('success');
    const { run, tis } = await readRun(stack, 'op_gate', runId);
    expect(run.state).to.equal('success');
    expect(statesOf(tis)).to.deep.equal({ start: ['success', 1], gate: ['success', 1], after: ['success', 1] });
    expect(await executions(first.triggered.workflowId)).to.have.length(3);
  });

  it('clears a running task: its process is killed, it is restarting, then it runs again as try 2', async function () {
    this.timeout(90_000);
    const { dir, triggered, runId } = await startSlow();

    fs.writeFileSync(path.join(dir, 'slow'), '');
    const outcome = await act('op_slow', runId, { kind: 'clear', task_ids: ['slow'] });
    expect(outcome.reopened).to.equal(false);
    // Its setup is cleared with it (its teardown has not run yet, so there is nothing to clear there).
    expect(changesOf(outcome)).to.deep.equal(['setup:success->none', 'slow:running->none']);

    const { result, tis, history } = await finishRun(stack, triggered);
    expect(result.state).to.equal('success');
    expect(statesOf(tis)).to.deep.equal({
      setup: ['success', 2],
      first: ['success', 1],
      slow: ['success', 2],
      last: ['success', 1],
      side: ['success', 1],
      teardown: ['success', 1],
    });
    expect(historyOf(history, 'slow').map((h) => [h.try_number, h.state, h.error])).to.deep.equal([
      [1, 'failed', 'cancelled'],
      [2, 'success', null],
    ]);
    await expectNoProcessesLeft(runId);
  });

  it('marks a running task success: its try is stopped and its downstream runs', async function () {
    this.timeout(90_000);
    const { triggered, runId } = await startSlow();

    const outcome = await act('op_slow', runId, { kind: 'set_task_state', task_ids: ['slow'], state: 'success' });
    expect(changesOf(outcome)).to.deep.equal(['slow:running->success']);
    const { result, tis } = await finishRun(stack, triggered);
    expect(result.state).to.equal('success');
    expect(statesOf(tis)).to.deep.equal({
      setup: ['success', 1],
      first: ['success', 1],
      slow: ['success', 1],
      last: ['success', 1],
      side: ['success', 1],
      teardown: ['success', 1],
    });
    await expectNoProcessesLeft(runId);
  });

  // Airflow's set_dag_run_state_to_failed / _success on a run in flight; teardowns still run.
  const markRunCases = [
    {
      state: 'failed' as const,
      about: 'the running try fails, tasks not started are skipped, the teardown still runs',
      changes: ['last:none->skipped', 'side:none->skipped', 'slow:running->failed'],
      last_error: 'marked failed by an operator',
      final: { slow: ['failed', 1], last: ['skipped', 0], side: ['skipped', 0] },
    },
    {
      state: 'success' as const,
      about: 'unfinished work is marked success, the teardown runs',
      changes: ['last:none->success', 'side:none->success', 'slow:running->success'],
      last_error: null,
      final: { slow: ['success', 1], last: ['success', 0], side: ['success', 0] },
    },
  ];
  for (const c of markRunCases) {
    it(`marks a running run ${c.state}: ${c.about}`, async function () {
      this.timeout(90_000);
      const { triggered, runId } = await startSlow();
      const outcome = await act('op_slow', runId, { kind: 'set_run_state', state: c.state });
      expect(outcome.forced_run_state).to.equal(c.state);
      expect(changesOf(outcome).sort()).to.deep.equal(c.changes);
      const { result, run, tis } = await finishRun(stack, triggered);
      expect([result.state, run.state, run.last_error]).to.deep.equal([c.state, c.state, c.last_error]);
      expect(statesOf(tis)).to.deep.equal({
        setup: ['success', 1],
        first: ['success', 1],
        ...c.final,
        teardown: ['success', 1],
      });
      await expectNoProcessesLeft(runId);
    });
  }

  it('clearing a task also clears its setup and teardown', async function () {
    this.timeout(90_000);
    const dir = tempDir('op');
    fs.writeFileSync(path.join(dir, 'slow'), '');
    const first = await finishRun(stack, await startRun(stack, 'op_slow', { conf: { dir } }));
    expect(first.result.state).to.equal('success');

    const outcome = await act('op_slow', first.triggered.runId, { kind: 'clear', task_ids: ['first'] });
    expect(changesOf(outcome)).to.deep.equal(['setup:success->none', 'first:success->none', 'teardown:success->none']);
    expect((await resultOf(outcome.workflowId)).state).to.equal('success');
    expect(statesOf((await readRun(stack, 'op_slow', first.triggered.runId)).tis)).to.deep.equal({
      setup: ['success', 2],
      first: ['success', 2],
      slow: ['success', 1],
      last: ['success', 1],
      side: ['success', 1],
      teardown: ['success', 2],
    });
  });

  it('a cleared task gets its retries anew (try_number keeps counting)', async function () {
    this.timeout(90_000);
    const dir = tempDir('op');
    const first = await finishRun(stack, await startRun(stack, 'op_retry', { conf: { dir } }));
    expect(statesOf(first.tis)).to.deep.equal({ flaky: ['failed', 2] });

    const outcome = await act('op_retry', first.triggered.runId, { kind: 'clear' });
    expect((await resultOf(outcome.workflowId)).state).to.equal('failed');
    const { tis, history } = await readRun(stack, 'op_retry', first.triggered.runId);
    expect(statesOf(tis)).to.deep.equal({ flaky: ['failed', 4] });
    expect(tis.get('flaky')!.max_tries).to.equal(4);
    expect(historyOf(history, 'flaky').map((h) => [h.try_number, h.state])).to.deep.equal([
      [1, 'up_for_retry'],
      [2, 'failed'],
      [3, 'up_for_retry'],
      [4, 'failed'],
    ]);
  });

  it('clears a mapped task: it expands again and every instance runs with its next try', async function () {
    this.timeout(90_000);
    const dir = tempDir('op');
    const first = await finishRun(stack, await startRun(stack, 'op_mapped', { conf: { dir } }));
    const runId = first.triggered.runId;
    expect(first.result.state).to.equal('failed');
    const instances = async (): Promise<Array<[number, string | null, number]>> =>
      (await listTaskInstances(stack.database.db, 'op_mapped', runId))
        .filter((t) => t.task_id === 'double')
        .map((t) => [t.map_index, t.state, t.try_number]);
    expect(await instances()).to.deep.equal([
      [0, 'success', 1],
      [1, 'failed', 1],
      [2, 'success', 1],
    ]);

    fs.writeFileSync(path.join(dir, 'two'), '');
    const outcome = await act('op_mapped', runId, { kind: 'clear', task_ids: ['double'], downstream: true });
    expect(changesOf(outcome)).to.deep.equal(['double:failed->none', 'total:upstream_failed->none']);
    expect((await resultOf(outcome.workflowId)).state).to.equal('success');
    expect(await instances()).to.deep.equal([
      [0, 'success', 2],
      [1, 'success', 2],
      [2, 'success', 2],
    ]);
    const total = (await listTaskInstances(stack.database.db, 'op_mapped', runId)).find((t) => t.task_id === 'total')!;
    expect([total.state, total.try_number]).to.deep.equal(['success', 1]);
  });

  it('refuses bad actions with a clear error and leaves the run alone', async function () {
    this.timeout(90_000);
    const { dir, triggered, runId } = await startSlow();

    const refused = async (action: Record<string, unknown>, runIdToUse = runId): Promise<string> => {
      try {
        await act('op_slow', runIdToUse, action);
      } catch (err) {
        expect(err).to.be.instanceOf(OperatorActionError);
        return (err as Error).message;
      }
      throw new Error(`action ${JSON.stringify(action)} was not refused`);
    };
    expect(await refused({ kind: 'clear', task_ids: ['nope'] })).to.match(
      /^unknown task id\(s\) "nope"; the DAG's tasks are: setup, first, slow/,
    );
    expect(await refused({ kind: 'set_task_state', task_ids: ['slow'], state: 'running' })).to.equal(
      'state "running" cannot be set by an operator: expected success or failed',
    );
    expect(await refused({ kind: 'reset' })).to.match(/unknown action kind "reset"/);
    expect(await refused({ kind: 'clear' }, 'no_such_run')).to.equal(
      'DAG run "no_such_run" of DAG "op_slow" not found (see updraft dags list-runs op_slow)',
    );

    // The workflow's own validator refuses what a client did not check, naming the task.
    const handle = stack.client.workflow.getHandle(triggered.workflowId);
    const err = await handle
      .executeUpdate(operatorActionUpdate, { args: [{ kind: 'clear', task_ids: ['ghost'] }] })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(WorkflowUpdateFailedError);
    expect((err as WorkflowUpdateFailedError).cause?.message).to.match(/unknown task id\(s\) "ghost"/);

    // Nothing changed: the run goes on and finishes normally once the flag is there.
    fs.writeFileSync(path.join(dir, 'slow'), '');
    await act('op_slow', runId, { kind: 'clear', task_ids: ['slow'] });
    const { result, tis } = await finishRun(stack, triggered);
    expect(result.state).to.equal('success');
    expect(statesOf(tis).slow).to.deep.equal(['success', 2]);
  });
});
