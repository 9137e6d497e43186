/// <reference types="mocha" />
/**
 * Dynamic task mapping on the real stack (Temporal dev server + Postgres): instances are recorded
 * with map_index 0..n-1 (the -1 placeholder is replaced), run with their own tries, and downstream
 * tasks receive the collected list in map_index order. Failures of the pushed value (not a list,
 * longer than max_map_length) fail the pushing task without retries, as Airflow's do.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { listLogTries } from '../../db/task-log.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { tempDir } from '../helpers/servers.js';
import type { TestStack } from '../helpers/stack.js';
import { historyOf, rowsOf, runDag, type FinishedRun } from './helpers.js';
import { sharedStack } from './shared-stack.js';

async function xcomOf(stack: TestStack, run: FinishedRun, taskId: string, mapIndex = -1): Promise<unknown> {
  return getXCom(stack.database.db, {
    dag_id: run.triggered.dagId,
    run_id: run.triggered.runId,
    task_id: taskId,
    map_index: mapIndex,
    key: 'return_value',
  });
}

describe('engine: dynamic task mapping (postgres)', function () {
  let stack: TestStack;

  before(async function () {
    this.timeout(120_000);
    stack = await sharedStack('postgres');
  });

  it('expands a literal list with partial arguments; downstream gets the list in map_index order', async function () {
    const run = await runDag(stack, 'wf_map_literal');
    expect(run.result.state).to.equal('success');
    expect(await rowsOf(stack, run)).to.deep.equal({
      'add[0]': ['success', 1],
      'add[1]': ['success', 1],
      'add[2]': ['success', 1],
      total: ['success', 1],
    });
    expect(await xcomOf(stack, run, 'add', 1)).to.deep.equal({ sum: 12, mapIndex: 1 });
    expect(await xcomOf(stack, run, 'total')).to.deep.equal({
      results: [
        { sum: 11, mapIndex: 0 },
        { sum: 12, mapIndex: 1 },
        { sum: 13, mapIndex: 2 },
      ],
      total: 36,
    });
    // Each instance has its own log, keyed by map_index.
    const key = { dag_id: 'wf_map_literal', run_id: run.triggered.runId, task_id: 'add', map_index: 2 };
    expect(await listLogTries(stack.database.db, key)).to.deep.equal([1]);
  });

  it('expands over a field of an upstream XCom, with a process task', async function () {
    const run = await runDag(stack, 'wf_map_upstream');
    expect(run.result.state).to.equal('success');
    const rows = await rowsOf(stack, run);
    expect(Object.keys(rows).sort()).to.deep.equal(['collect', 'count[0]', 'count[1]', 'count[2]', 'count[3]', 'make']);
    expect(await xcomOf(stack, run, 'collect')).to.deep.equal(['0:p:a.csv', '1:p:b.csv', '2:p:c.csv', '3:p:d.csv']);
  });

  it("maps a cross product of two keys in Airflow's order (the last key varies fastest)", async function () {
    const run = await runDag(stack, 'wf_map_cross');
    expect(run.result.state).to.equal('success');
    expect(await xcomOf(stack, run, 'join')).to.equal('1a,1b,2a,2b,3a,3b');
    expect(Object.keys(await rowsOf(stack, run)).filter((k) => k.startsWith('pair['))).to.have.length(6);
  });

  it('expandKwargs over an upstream list of dicts and over a literal list', async function () {
    const run = await runDag(stack, 'wf_map_kwargs');
    expect(run.result.state).to.equal('success');
    expect(await xcomOf(stack, run, 'report')).to.deep.equal({ trained: ['a:0.1:3', 'b:0.2:3'], products: [6, 20] });
  });

  it('skips a mapped task whose list is empty (the -1 instance), and an all_done downstream gets []', async function () {
    const run = await runDag(stack, 'wf_map_empty');
    expect(run.result.state).to.equal('success');
    expect(await rowsOf(stack, run)).to.deep.equal({
      none: ['success', 1],
      each: ['skipped', 0],
      after: ['success', 1],
    });
    expect(await xcomOf(stack, run, 'after')).to.deep.equal({ got: [] });
  });

  it('fails the pushing task without retries when it pushes a non-list (UnmappableXComTypePushed)', async function () {
    const run = await runDag(stack, 'wf_map_not_list');
    expect(run.result.state).to.equal('success'); // the leaf cleanup (all_done) decides
    expect(await rowsOf(stack, run)).to.deep.equal({
      pusher: ['failed', 1],
      each: ['upstream_failed', 0],
      cleanup: ['success', 1],
    });
    expect(run.tis.get('pusher')!.error).to.equal(
      'UnmappableXComTypePushed: task "each" expand() argument "x" maps over the return value of "pusher" at "items", which must be a list; got unmappable type \'int\'',
    );
    expect(historyOf(run.history, 'pusher')).to.have.length(1);
  });

  it('fails the pushing task when its list is longer than max_map_length', async function () {
    const run = await runDag(stack, 'wf_map_too_long');
    expect(run.result.state).to.equal('failed');
    expect(await rowsOf(stack, run)).to.deep.equal({ pusher: ['failed', 1], each: ['upstream_failed', 0] });
    expect(run.tis.get('pusher')!.error).to.equal(
      'UnmappableXComLengthPushed: task "pusher" pushed 6 items, more than max_map_length (5); task "each" expand() argument "x" maps over the return value of "pusher"',
    );
  });

  it('retries one instance on its own try numbers; downstream counts the instances', async function () {
    const dir = tempDir('map-retry');
    const run = await runDag(stack, 'wf_map_retry', { conf: { dir } });
    expect(run.result.state).to.equal('success'); // the leaves (sum: all_done, one_success) succeeded although flaky[2] failed
    expect(await rowsOf(stack, run)).to.deep.equal({
      'flaky[0]': ['success', 1],
      'flaky[1]': ['success', 2],
      'flaky[2]': ['failed', 3],
      sum: ['success', 1],
      one_success: ['success', 1],
    });
    const tries = run.history
      .filter((h) => h.task_id === 'flaky')
      .map((h) => [h.map_index, h.try_number, h.state])
      .sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
    expect(tries).to.deep.equal([
      [0, 1, 'success'],
      [1, 1, 'up_for_retry'],
      [1, 2, 'success'],
      [2, 1, 'up_for_retry'],
      [2, 2, 'up_for_retry'],
      [2, 3, 'failed'],
    ]);
    // Failed instances push nothing, so the collected list holds the successful instances' values.
    expect(await xcomOf(stack, run, 'sum')).to.equal(30);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs a large expansion of no-op in-process tasks to completion', async function () {
    // 10,000 took 84 s on the quiet 2-core dev box on 2026-12-07 once a worker's slot requests were
    // decided together (activities/admission/wait-list.ts); with each try deciding alone under one
    // pool-row lock it took 400 s (docs/benchmarks.md). UPDRAFT_TEST_MAPPING_N picks another size.
    const n = Number(process.env.UPDRAFT_TEST_MAPPING_N ?? 10_000);
    this.timeout(15 * 60_000);
    const started = Date.now();
    const run = await runDag(stack, 'wf_map_large', { conf: { n } });
    const seconds = (Date.now() - started) / 1000;
    console.log(`      ${n} mapped instances: ${seconds.toFixed(1)} s`);
    const unfinished = (await listTaskInstances(stack.database.db, 'wf_map_large', run.triggered.runId))
      .filter((r) => r.state !== 'success')
      .slice(0, 5)
      .map((r) => `${r.task_id}[${r.map_index}] ${r.state} try ${r.try_number}: ${r.error ?? ''}`);
    expect(
      run.result.state,
      `run ended ${run.result.state} (${run.result.reason ?? 'no reason'}); first non-success rows: ${unfinished.join(' | ')}`,
    ).to.equal('success');
    expect(await xcomOf(stack, run, 'check')).to.deep.equal({ count: n, sum: (n * (n - 1)) / 2 });
    const rows = await listTaskInstances(stack.database.db, 'wf_map_large', run.triggered.runId);
    const noop = rows.filter((r) => r.task_id === 'noop');
    expect(noop).to.have.length(n);
    expect(noop.every((r) => r.state === 'success' && r.try_number === 1)).to.equal(true);
    expect(noop.map((r) => r.map_index).sort((a, b) => a - b)[n - 1]).to.equal(n - 1);
    // The run continued as new (history limits) in the middle of the expansion and carried it.
    const firstRunId = (run.triggered.handle as { firstExecutionRunId?: string }).firstExecutionRunId;
    expect(firstRunId, 'the started run id').to.be.a('string');
    if (n >= 2000) expect((await run.triggered.handle.describe()).runId).to.not.equal(firstRunId);
  });
});
