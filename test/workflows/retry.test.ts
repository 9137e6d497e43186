/// <reference types="mocha" />
/**
 * Retries on the real stack with Airflow's semantics: a flaky process fails twice and succeeds on
 * its third try, waiting at least Airflow's exponential backoff between tries; a hopeless one uses
 * up its retries and fails with try_number = retries + 1.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { listLogTries, readTaskLog } from '../../db/task-log.repository.js';
import { retryDelaySeconds } from '../../engine/index.js';
import { tempDir } from '../helpers/servers.js';
import type { TestStack } from '../helpers/stack.js';
import { historyOf, runDag, statesOf, ti } from './helpers.js';
import { sharedStack } from './shared-stack.js';

describe('engine: retries with backoff', function () {
  let stack: TestStack;

  before(async () => {
    stack = await sharedStack('pglite');
  });

  it('retries a flaky task until it succeeds, waiting the backoff, and fails a task that exhausts its retries', async function () {
    const dir = tempDir('retry');
    const { triggered, result, run, tis, history } = await runDag(stack, 'wf_retry', { conf: { dir } });
    const db = stack.database.db;

    expect(result.state).to.equal('failed'); // hopeless is a leaf and failed
    expect(statesOf(tis)).to.deep.equal({
      setup: ['success', 1],
      flaky: ['success', 3],
      hopeless: ['failed', 2],
    });
    // The process really ran three times.
    expect(fs.readFileSync(path.join(dir, 'count'), 'utf8').trim()).to.equal('3');

    const flaky = historyOf(history, 'flaky');
    expect(flaky.map((h) => [h.try_number, h.state, h.exit_code])).to.deep.equal([
      [1, 'up_for_retry', 1],
      [2, 'up_for_retry', 1],
      [3, 'success', 0],
    ]);
    expect(flaky[0]!.error).to.match(
      /^process exited with code 1\. Last 2 line\(s\) of output:\nflaky run 1 \(try 1\)\nflaky failure 1/,
    );
    expect(ti(tis, 'flaky').max_tries).to.equal(3);
    expect(ti(tis, 'flaky').error).to.equal(null);

    // Airflow's delay (retry_delay * 2^(try-1) plus deterministic jitter) separates the tries.
    const logicalDate = run.logical_date!.toISOString();
    for (const failedTry of [1, 2]) {
      const expected = retryDelaySeconds({
        dagId: 'wf_retry',
        taskId: 'flaky',
        logicalDate,
        tryNumber: failedTry,
        retryDelay: 1,
        exponentialBackoff: true,
        maxRetryDelay: null,
      });
      const gapMs = flaky[failedTry]!.start_date!.getTime() - flaky[failedTry - 1]!.end_date!.getTime();
      expect(gapMs, `gap after try ${failedTry} (expected >= ${expected}s)`).to.be.at.least(expected * 1000 - 20);
      // ...and not much more than that (the retry is a timer, not a poll).
      expect(gapMs, `gap after try ${failedTry}`).to.be.below(expected * 1000 + 5000);
    }
    expect(
      retryDelaySeconds({
        dagId: 'wf_retry',
        taskId: 'flaky',
        logicalDate,
        tryNumber: 2,
        retryDelay: 1,
        exponentialBackoff: true,
        maxRetryDelay: null,
      }),
    ).to.be.oneOf([2, 3]);

    // Each try has its own log.
    const key = { dag_id: 'wf_retry', run_id: triggered.runId, task_id: 'flaky', map_index: -1 };
    expect(await listLogTries(db, key)).to.deep.equal([1, 2, 3]);
    const try2 = await readTaskLog(db, { ...key, try_number: 2 });
    expect(try2.filter((l) => l.stream === 'stdout').map((l) => l.line)).to.deep.equal(['flaky run 2 (try 2)']);
    expect(try2.map((l) => l.line)).to.include(
      'flaky try 2 of 3 on ' + ti(tis, 'flaky').hostname + ' with the process executor',
    );

    // Retries exhausted: try_number = retries + 1, the last try failed, the earlier one up_for_retry.
    const hopeless = historyOf(history, 'hopeless');
    expect(hopeless.map((h) => [h.try_number, h.state, h.exit_code])).to.deep.equal([
      [1, 'up_for_retry', 3],
      [2, 'failed', 3],
    ]);
    expect(ti(tis, 'hopeless').exit_code).to.equal(3);
    expect(ti(tis, 'hopeless').error).to.match(
      /^process exited with code 3\. Last 1 line\(s\) of output:\nhopeless try 2/,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
