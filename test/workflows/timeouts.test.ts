/// <reference types="mocha" />
/**
 * Timeouts on the real stack: a try over its execution_timeout is killed (whole process group)
 * and fails; a run over its dagrun_timeout fails, its running task becomes skipped (Airflow), and
 * its processes are killed.
 */
import { expect } from 'chai';
import type { TestStack } from '../helpers/stack.js';
import {
  expectNoProcessesLeft,
  finishRun,
  groupMembers,
  historyOf,
  readRun,
  runProcesses,
  startRun,
  statesOf,
  ti,
  waitFor,
} from './helpers.js';
import { sharedStack } from './shared-stack.js';

describe('engine: timeouts', function () {
  let stack: TestStack;

  before(async () => {
    stack = await sharedStack('pglite');
  });

  it('kills a process over its execution_timeout and fails the task', async function () {
    const triggered = await startRun(stack, 'wf_exec_timeout');
    // The process really ran (so the kill below is real).
    await waitFor('the sleepy process to start', () => runProcesses(triggered.runId).length > 0, 30_000);
    const started = Date.now();
    const { result, run, tis, history } = await finishRun(stack, triggered);
    expect(Date.now() - started, 'ended well before the 60 s sleep').to.be.below(20_000);

    expect(result.state).to.equal('failed');
    expect(statesOf(tis)).to.deep.equal({ sleepy: ['failed', 1] });
    const sleepy = ti(tis, 'sleepy');
    expect(sleepy.error).to.match(
      /^process timed out: it ran 2(\.\d)?s, over its execution timeout of 2s; process group \d+ was killed/,
    );
    expect(historyOf(history, 'sleepy').map((h) => [h.try_number, h.state])).to.deep.equal([[1, 'failed']]);
    expect(sleepy.duration!).to.be.within(2, 10);
    expect(run.state).to.equal('failed');

    const pgid = Number(sleepy.external_id);
    expect(pgid).to.be.above(1);
    expect(groupMembers(pgid), `members of process group ${pgid}`).to.deep.equal([]);
    await expectNoProcessesLeft(triggered.runId, 1000);
  });

  it('fails a run over its dagrun_timeout, skips its running task and kills its process', async function () {
    const triggered = await startRun(stack, 'wf_dagrun_timeout');
    await waitFor('the long process to start', () => runProcesses(triggered.runId).length > 0, 30_000);
    const { result, run, tis, history } = await finishRun(stack, triggered);

    expect(result.state).to.equal('failed');
    expect(result.reason).to.equal('dagrun_timeout of 3s exceeded');
    expect(run.state).to.equal('failed');
    expect(run.last_error).to.equal('dagrun_timeout of 3s exceeded');
    // The deadline counts from the workflow's start, a moment before start_date is recorded.
    expect(run.end_date!.getTime() - run.start_date!.getTime()).to.be.within(2500, 20_000);
    expect(statesOf(tis)).to.deep.equal({
      first: ['success', 1],
      long: ['skipped', 1],
      after: ['skipped', 0],
    });
    expect(ti(tis, 'long').error).to.equal('dagrun_timeout of 3s exceeded');
    expect(historyOf(history, 'long')).to.have.length(1);
    await expectNoProcessesLeft(triggered.runId, 15_000);

    // Nothing rewrites the final states afterwards (e.g. the cancelled activity recording its own end).
    await new Promise((r) => setTimeout(r, 1500));
    expect(statesOf((await readRun(stack, 'wf_dagrun_timeout', triggered.runId)).tis)).to.deep.equal(statesOf(tis));
  });
});
