/// <reference types="mocha" />
/**
 * Skips on the real stack: SkipTask and the skip exit code skip the task; all_success downstreams
 * are skipped; none_failed_min_one_success joins follow Airflow (run with one success upstream,
 * skipped when every upstream was skipped); the run succeeds.
 */
import { expect } from 'chai';
import type { TestStack } from '../helpers/stack.js';
import { historyOf, runDag, statesOf, ti } from './helpers.js';
import { sharedStack } from './shared-stack.js';

describe('engine: skips', function () {
  let stack: TestStack;

  before(async () => {
    stack = await sharedStack('pglite');
  });

  it('skips what SkipTask and exit code 99 skip, cascades per trigger rule, and succeeds', async function () {
    const { result, run, tis, history } = await runDag(stack, 'wf_skip');
    expect(statesOf(tis)).to.deep.equal({
      start: ['success', 1],
      skipper: ['skipped', 1],
      after_skip: ['skipped', 0],
      ran: ['success', 1],
      join_mixed: ['success', 1],
      join_all_skipped: ['skipped', 0],
      skip_proc: ['skipped', 1],
      after_skip_proc: ['skipped', 0],
    });
    expect(result).to.deep.equal({ state: 'success', tasks: { success: 3, skipped: 5 } });
    expect(run.state).to.equal('success');

    expect(ti(tis, 'skipper').error).to.equal('nothing to do today');
    expect(historyOf(history, 'skipper').map((h) => [h.try_number, h.state])).to.deep.equal([[1, 'skipped']]);
    expect(ti(tis, 'skip_proc').exit_code).to.equal(99);
    expect(ti(tis, 'skip_proc').error).to.equal('process exited with code 99 (SKIP_EXIT_CODE): task skipped');
    // Cascaded skips never ran.
    for (const id of ['after_skip', 'join_all_skipped', 'after_skip_proc'])
      expect(historyOf(history, id), id).to.deep.equal([]);
  });
});
