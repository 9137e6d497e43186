/// <reference types="mocha" />
/**
 * Control flow on the real stack with bad input and side channels: an unknown branch target fails
 * the branch task with a clear error while a concurrent run of the same DAG is unaffected;
 * SkipTask / FailTask (exit 99 / 98) from in-process and process tasks ignore retries; callbacks
 * fire after the state change (in the try's log), never for branch skips, and one that throws is
 * logged in the task log (stream 'system') and changes no state.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { readTaskLog } from '../../db/task-log.repository.js';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { finishRun, historyOf, runDag, startRun, statesOf, ti } from './helpers.js';

const FIXTURES = path.resolve(__dirname, '../../../test/workflows/dags/control_flow');

describe('control flow: bad input, SkipTask/FailTask, callbacks', function () {
  let stack: TestStack;

  before(async function () {
    this.timeout(120_000);
    stack = await startTestStack({ dagsFolder: FIXTURES, db: 'postgres' });
    expect(stack.bag.importErrors, 'fixture DAG import errors').to.deep.equal([]);
  });

  after(async function () {
    this.timeout(60_000);
    await stack?.stop();
  });

  const lines = async (
    dagId: string,
    runId: string,
    taskId: string,
    tryNumber: number,
    stream?: string,
  ): Promise<string[]> =>
    (
      await readTaskLog(stack.database.db, {
        dag_id: dagId,
        run_id: runId,
        task_id: taskId,
        map_index: -1,
        try_number: tryNumber,
      })
    )
      .filter((l) => stream === undefined || l.stream === stream)
      .map((l) => l.line);

  it('fails the branch task on an unknown target, naming the valid ids, and leaves a concurrent run alone', async function () {
    const [bad, good] = await Promise.all([
      startRun(stack, 'cf_branch', { conf: { target: 'nope' } }),
      startRun(stack, 'cf_branch', { conf: { target: 'b' } }),
    ]);
    const [badRun, goodRun] = await Promise.all([finishRun(stack, bad), finishRun(stack, good)]);

    expect(statesOf(badRun.tis)).to.deep.equal({
      pick: ['failed', 1],
      a: ['upstream_failed', 0],
      b: ['upstream_failed', 0],
      join: ['upstream_failed', 0],
    });
    expect(badRun.result.state).to.equal('failed');
    const message =
      'BranchError: branch task "pick" returned unknown task id "nope"; a branch may follow only its direct downstream tasks: a, b (or return null to skip them all)';
    expect(ti(badRun.tis, 'pick').error?.split('\n')[0]).to.equal(message);
    expect((await lines('cf_branch', bad.runId, 'pick', 1, 'system')).join('\n')).to.contain(
      `pick try 1 failed (error): ${message}`,
    );

    expect(statesOf(goodRun.tis)).to.deep.equal({
      pick: ['success', 1],
      a: ['skipped', 0],
      b: ['success', 1],
      join: ['success', 1],
    });
    expect(goodRun.result.state).to.equal('success');
    expect(ti(goodRun.tis, 'a').error).to.equal('skipped by branch "pick" (it followed b)');
  });

  it('a branch returning null skips every direct downstream task', async function () {
    const { result, tis } = await runDag(stack, 'cf_branch', { conf: { target: null } });
    expect(statesOf(tis)).to.deep.equal({
      pick: ['success', 1],
      a: ['skipped', 0],
      b: ['skipped', 0],
      join: ['skipped', 0],
    });
    expect(result.state).to.equal('success');
  });

  it('SkipTask and exit 99 skip on try 1; FailTask and exit 98 fail on try 1 despite retries; a plain error retries', async function () {
    const { result, tis, history, triggered } = await runDag(stack, 'cf_skip_fail');
    expect(statesOf(tis)).to.deep.equal({
      fn_skip: ['skipped', 1],
      fn_fail: ['failed', 1],
      proc_skip: ['skipped', 1],
      proc_fail: ['failed', 1],
      fn_retry: ['success', 2],
    });
    expect(result.state).to.equal('failed');
    for (const id of ['fn_skip', 'fn_fail', 'proc_skip', 'proc_fail']) {
      expect(
        historyOf(history, id).map((h) => h.try_number),
        id,
      ).to.deep.equal([1]);
      expect(ti(tis, id).max_tries, id).to.equal(4);
    }
    expect(ti(tis, 'fn_fail').error).to.equal('bad input, retrying will not help');
    expect(ti(tis, 'proc_fail').exit_code).to.equal(98);
    expect(ti(tis, 'proc_skip').exit_code).to.equal(99);
    expect(historyOf(history, 'fn_retry').map((h) => [h.try_number, h.state])).to.deep.equal([
      [1, 'up_for_retry'],
      [2, 'success'],
    ]);

    // Callbacks (from defaultArgs) saw each outcome once: on_skipped for skips, on_failure without on_retry for FailTask.
    const fired = async (id: string, tryNumber: number): Promise<string[]> =>
      (await lines('cf_skip_fail', triggered.runId, id, tryNumber, 'stdout')).filter((l) => l.includes(' fired: '));
    expect(await fired('fn_skip', 1)).to.deep.equal([
      'on_skipped callback: on_skipped fired: state=skipped try=1 exception=nothing to do',
    ]);
    expect(await fired('fn_fail', 1)).to.deep.equal([
      'on_failure callback: on_failure fired: state=failed try=1 exception=bad input, retrying will not help',
    ]);
    expect(await fired('proc_skip', 1)).to.deep.equal([
      'on_skipped callback: on_skipped fired: state=skipped try=1 exception=process exited with code 99 (SKIP_EXIT_CODE): task skipped',
    ]);
    expect((await fired('proc_fail', 1))[0]).to.match(
      /^on_failure callback: on_failure fired: state=failed try=1 exception=process exited with code 98/,
    );
    expect((await fired('fn_retry', 1))[0]).to.match(
      /^on_retry callback: on_retry fired: state=up_for_retry try=1 exception=Error: transient/,
    );
    expect(await fired('fn_retry', 2)).to.deep.equal([
      'on_success callback: on_success fired: state=success try=2 exception=-',
    ]);
  });

  it('runs callbacks after the state change; a throwing callback is logged and changes nothing', async function () {
    const dir = tempDir('callbacks');
    const { result, run, tis, triggered } = await runDag(stack, 'cf_callbacks', { conf: { dir } });
    const runId = triggered.runId;
    expect(statesOf(tis)).to.deep.equal({
      ok: ['success', 1],
      retry_then_ok: ['success', 2],
      skip_me: ['skipped', 1],
      pick: ['success', 1],
      chosen: ['success', 1],
      not_chosen: ['skipped', 0],
      boom_cb: ['success', 1],
      fails: ['failed', 1],
    });
    expect(result).to.deep.equal({
      state: 'failed',
      reason: '1 leaf task(s) failed: fails (failed)',
      tasks: { success: 5, skipped: 2, failed: 1 },
    });
    expect(run.state).to.equal('failed');
    expect(run.last_error).to.equal('1 leaf task(s) failed: fails (failed)');

    const stdout = (id: string, n: number): Promise<string[]> => lines('cf_callbacks', runId, id, n, 'stdout');
    const system = (id: string, n: number): Promise<string[]> => lines('cf_callbacks', runId, id, n, 'system');
    // on_execute runs before the try's work, on_success after it.
    expect(await stdout('ok', 1)).to.deep.equal([
      'on_execute callback: on_execute: ok running try 1',
      'on_success callback: on_success: ok success try 1',
    ]);
    expect(await system('ok', 1)).to.include.members([
      'on_execute callback for task "ok" try 1 ran',
      'on_success callback for task "ok" try 1 ran',
    ]);
    expect(await stdout('retry_then_ok', 1)).to.deep.equal([
      'on_retry callback: on_retry: retry_then_ok up_for_retry try 1',
    ]);
    expect(await stdout('retry_then_ok', 2)).to.deep.equal([
      'on_success callback: on_success: retry_then_ok success try 2',
    ]);
    expect(await stdout('skip_me', 1)).to.deep.equal(['on_skipped callback: on_skipped: skip_me skipped try 1']);
    // A branch skip is not the task skipping itself: no on_skipped (and no try, so no log at all).
    expect(await lines('cf_callbacks', runId, 'not_chosen', 0)).to.deep.equal([]);
    expect(await lines('cf_callbacks', runId, 'not_chosen', 1)).to.deep.equal([]);

    expect(await system('boom_cb', 1)).to.include(
      'on_success callback for task "boom_cb" try 1 failed (the state is unchanged): CallbackError: TypeError: callback exploded',
    );
    expect(ti(tis, 'boom_cb').error).to.equal(null);
    expect(await system('fails', 1)).to.include(
      'on_failure callback for task "fails" try 1 failed (the state is unchanged): CallbackError: Error: failure callback exploded too',
    );
    expect(ti(tis, 'fails').error).to.equal('giving up');

    // The DAG's on_failure list: the first callback ran although the second threw; on_success did not fire.
    expect(fs.readFileSync(path.join(dir, 'dag-callbacks.txt'), 'utf8')).to.equal(
      `on_failure failed 1 leaf task(s) failed: fails (failed) ${runId}\n`,
    );
  });
});
