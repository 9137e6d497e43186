/// <reference types="mocha" />
/**
 * What an operator sees of a run in Temporal (real dev server + Postgres): a failed run is a Failed
 * workflow whose message names the root-cause tasks; a run that succeeds completes; the DagRunState
 * search attribute filters them; the taskStates query lists every task (through the client and the
 * `temporal` CLI); a running try's pending activity names its task; the memo and static details
 * point at the task logs.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { dagRunResult, failedRun } from '../../client/run-result.js';
import { taskStatesQuery } from '../../workflows/messages.js';
import { DAG_RUN_STATE } from '../../workflows/search-attributes.js';
import { DAG_RUN_FAILED, type TaskStatesView } from '../../workflows/types.js';
import { tempDir } from '../helpers/servers.js';
import type { TestStack } from '../helpers/stack.js';
import { readRun, startRun, useFixtureStack, waitFor } from './helpers.js';

const FIXTURES = path.resolve(__dirname, '../../../test/workflows/dags/operator_view');

describe("the operator's view in Temporal", function () {
  let stack: TestStack;
  useFixtureStack(FIXTURES, (s) => (stack = s));

  /** Task states as `id: state`, mapped tasks with their instance counts. */
  const summary = (view: TaskStatesView): Record<string, string> =>
    Object.fromEntries(
      view.tasks.map((t) => [
        t.task_id,
        t.instances ? `${t.state} ${JSON.stringify(t.instances)}` : `${t.state} (try ${t.try_number})`,
      ]),
    );

  it('a failed run fails its workflow naming the root cause; query, pending activities, memo and search attribute tell the rest', async function () {
    this.timeout(120_000);
    const dir = tempDir('ov');
    const triggered = await startRun(stack, 'ov_mixed', { conf: { dir } });
    const { handle, workflowId, runId } = triggered;

    // While wait_flag runs: its pending activity's heartbeat details name the task and the try,
    // next to the process executor's handle (what a retry after a worker crash re-attaches to).
    const details = await waitFor('wait_flag to heartbeat its process handle', async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      for (const a of pending) {
        const payload = a.heartbeatDetails?.payloads?.[0];
        const d = payload ? defaultPayloadConverter.fromPayload<Record<string, unknown>>(payload) : null;
        if (d?.task_id === 'wait_flag' && d.handle !== null) return d;
      }
      return undefined;
    });
    expect(details).to.deep.include({
      dag_id: 'ov_mixed',
      run_id: runId,
      task_id: 'wait_flag',
      map_index: -1,
      try_number: 1,
    });
    expect(details.handle).to.include({ executor: 'process' });

    const running = await handle.query(taskStatesQuery);
    expect(running.state).to.equal('running');
    expect(running.tasks.find((t) => t.task_id === 'wait_flag')).to.deep.include({ state: 'running', try_number: 1 });

    const described = await handle.describe();
    const logsFolder = path.join(stack.config.logsFolder, 'dag_id=ov_mixed', `run_id=${runId}`);
    expect(described.memo).to.deep.include({
      logs_folder: logsFolder,
      logs_command: `updraft tasks logs ov_mixed ${runId} <task_id>`,
      states_command: `updraft tasks states-for-dag-run ov_mixed ${runId}`,
    });
    expect(await described.staticDetails()).to.contain(
      `Task logs: \`updraft tasks logs ov_mixed ${runId} <task_id>\` (files under \`${logsFolder}/\`)`,
    );

    fs.writeFileSync(path.join(dir, 'go'), '');
    const error = await handle.result().then(
      () => {
        throw new Error('the failed run completed its workflow');
      },
      (err: unknown) => err,
    );
    expect(error).to.be.instanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).to.be.instanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).to.equal(DAG_RUN_FAILED);
    // The instance's stored error on one line (its stack frames left out), then what it cost.
    expect(cause!.message).to.equal(
      'task "train[1]" failed: Error: bad input 2: the loss diverged | last log lines: | Error: bad input 2: the loss diverged; 1 task(s) upstream_failed',
    );

    // The run's result travels in the failure: callers still read its state.
    const result = await dagRunResult(handle);
    expect(result).to.deep.equal({
      state: 'failed',
      reason: '1 leaf task(s) failed: report (upstream_failed)',
      tasks: { success: 2, failed: 1, upstream_failed: 1, skipped: 2 },
    });
    expect(failedRun(error)?.message).to.equal(cause!.message);

    const ended = await handle.describe();
    expect(ended.status.name).to.equal('FAILED');
    expect(ended.typedSearchAttributes.get(DAG_RUN_STATE)).to.equal('failed');
    const { run } = await readRun(stack, 'ov_mixed', runId);
    expect(run.state).to.equal('failed');
    expect(run.last_error).to.equal('1 leaf task(s) failed: report (upstream_failed)');

    // The filter docs/temporal-ui.md gives operators finds it (visibility is eventually consistent).
    await waitFor('the visibility query to list the failed run', async () => {
      for await (const w of stack.client.workflow.list({
        query: `DagId = "ov_mixed" AND DagRunState = "failed" AND WorkflowId = "${workflowId}"`,
      })) {
        if (w.status.name === 'FAILED') return true;
      }
      return false;
    });

    // After the end the query still answers (the worker replays the history), skipped and
    // upstream_failed tasks and mapped instances included.
    const final = await handle.query(taskStatesQuery);
    expect(final).to.deep.include({
      dag_id: 'ov_mixed',
      run_id: runId,
      state: 'failed',
      reason: '1 leaf task(s) failed: report (upstream_failed)',
    });
    expect(final.counts).to.deep.equal({ success: 2, failed: 1, upstream_failed: 1, skipped: 2 });
    expect(summary(final)).to.deep.equal({
      fetch: 'success (try 1)',
      train: 'failed {"count":3,"states":{"failed":1,"success":2}}',
      report: 'upstream_failed (try 0)',
      skipper: 'skipped (try 1)',
      after_skip: 'skipped (try 0)',
      wait_flag: 'success (try 1)',
    });

    // The same query from the `temporal` CLI, as an operator would send it.
    const address = stack.config.temporalAddress;
    if (address === null) throw new Error('the test stack has no Temporal address');
    const { stdout } = await promisify(execFile)('temporal', [
      'workflow',
      'query',
      '--address',
      address,
      '--namespace',
      stack.config.namespace,
      '--workflow-id',
      workflowId,
      '--name',
      'taskStates',
      '--output',
      'json',
    ]);
    const answer = JSON.parse(stdout) as { queryResult: TaskStatesView[] };
    expect(summary(answer.queryResult[0]!)).to.deep.equal(summary(final));
  });

  it('a run that succeeds completes its workflow', async function () {
    this.timeout(60_000);
    const triggered = await startRun(stack, 'ov_ok');
    expect(await triggered.handle.result()).to.deep.equal({ state: 'success', tasks: { success: 1 } });
    const ended = await triggered.handle.describe();
    expect(ended.status.name).to.equal('COMPLETED');
    expect(ended.typedSearchAttributes.get(DAG_RUN_STATE)).to.equal('success');
    const view = await triggered.handle.query(taskStatesQuery);
    expect(view).to.deep.include({ state: 'success', reason: null, counts: { success: 1 } });
  });
});
