/// <reference types="mocha" />
/**
 * A worker SIGKILLed mid-task on the real stack: the worker runs in a child process; while a
 * process task runs, the child is killed with SIGKILL (the task's process, in its own session,
 * survives as an orphan). A new worker picks the try up again after the heartbeat timeout; the
 * process executor finds the orphan through the heartbeated handle and kills it before starting
 * afresh; the run succeeds and no process of the run is left.
 */
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readTaskLog } from '../../db/task-log.repository.js';
import { tempDir } from '../helpers/servers.js';
import { WorkerChildren } from '../helpers/worker-children.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import {
  ENGINE_DAGS,
  expectNoProcessesLeft,
  historyOf,
  readRun,
  runProcesses,
  startRun,
  statesOf,
  ti,
  waitFor,
} from './helpers.js';
import { dagRunResult } from '../../client/run-result.js';

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function pgidOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

describe('engine: a worker killed with SIGKILL mid-task', function () {
  let stack: TestStack;
  const workers = new WorkerChildren();
  const startWorkerChild = (): Promise<ChildProcess> => workers.start(stack, ENGINE_DAGS);

  before(async () => {
    // No in-process worker: only the child processes run tasks. Postgres, as two processes share it.
    stack = await startTestStack({ dagsFolder: ENGINE_DAGS, db: 'postgres', worker: false });
    expect(stack.config.run.heartbeatTimeoutSeconds).to.equal(3);
  });
  after(async () => {
    workers.killAll();
    await stack?.stop();
    if (stack) fs.rmSync(stack.home, { recursive: true, force: true });
  });

  it('re-runs the try on a new worker, which kills the orphaned process of the dead one first', async function () {
    this.timeout(120_000);
    const dir = tempDir('worker-crash');
    const first = await startWorkerChild();
    const triggered = await startRun(stack, 'wf_worker_crash', { conf: { dir } });
    const runId = triggered.runId;

    await waitFor(
      'the first attempt of "survivor" to run',
      () => fs.existsSync(path.join(dir, 'first-attempt')) && runProcesses(runId).length >= 2,
      60_000,
    );
    const { tis: before } = await readRun(stack, 'wf_worker_crash', runId);
    expect(ti(before, 'survivor').state).to.equal('running');
    // Let the handle's heartbeat reach the server, then kill the worker without warning.
    await new Promise((r) => setTimeout(r, 1000));
    const orphans = runProcesses(runId);
    const pgid = pgidOf(orphans[0]!);
    expect(orphans.map(pgidOf), 'the task runs as one process group').to.deep.equal(orphans.map(() => pgid));
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    await new Promise((r) => setTimeout(r, 200));
    expect(orphans.filter(isAlive), 'the task process should outlive its SIGKILLed worker').to.deep.equal(orphans);

    const killedAt = Date.now();
    await startWorkerChild();
    const result = await dagRunResult(triggered.handle);
    expect(result).to.deep.equal({ state: 'success', tasks: { success: 3 } });
    // The orphan was killed (long before its 30 s sleep would have ended), not waited out.
    expect(orphans.filter(isAlive), 'orphans of the first attempt still alive').to.deep.equal([]);
    expect(Date.now() - killedAt).to.be.below(28_000);
    expect(fs.readFileSync(path.join(dir, 'done'), 'utf8').trim()).to.equal('second');
    expect(fs.existsSync(path.join(dir, 'first-done')), 'the orphan finished its work').to.equal(false);

    const { run, tis, history } = await readRun(stack, 'wf_worker_crash', runId);
    expect(run.state).to.equal('success');
    // Still Airflow try 1: a lost worker is an infrastructure failure, not a task failure.
    expect(statesOf(tis)).to.deep.equal({ setup: ['success', 1], survivor: ['success', 1], after: ['success', 1] });
    expect(historyOf(history, 'survivor').map((h) => [h.try_number, h.state])).to.deep.equal([[1, 'success']]);

    const log = await readTaskLog(stack.database.db, {
      dag_id: 'wf_worker_crash',
      run_id: runId,
      task_id: 'survivor',
      map_index: -1,
      try_number: 1,
    });
    const lines = log.map((l) => l.line);
    expect(
      lines.some((l) => /^survivor try 1 of 1 on .* \(attempt 2: an earlier attempt of this try was lost\)$/.test(l)),
      lines.join('\n'),
    ).to.equal(true);
    // The group the first attempt ran in (read before the kill): the handle named it.
    expect(lines).to.include(`killed orphan process group ${pgid} left by the crashed worker; starting afresh`);
    expect(lines).to.include('second attempt');

    await expectNoProcessesLeft(runId, 15_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
