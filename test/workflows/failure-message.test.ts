/** A failed run's workflow failure message (workflows/dag-run/failure.ts), pure. */
import { expect } from 'chai';
import { failureMessage } from '../../workflows/dag-run/failure.js';

describe("a failed run's message", () => {
  const leaves = '1 leaf task(s) failed: report (upstream_failed)';

  it('names the root-cause tasks and their errors, then what they cost; the leaves summary is left out', () => {
    const failed = {
      total: 2,
      tasks: [
        {
          task_id: 'crash',
          map_index: -1,
          error: 'process exited with code 7. Last 2 line(s) of output:\nabout to fail\ndisk on fire',
        },
        { task_id: 'train', map_index: 4, error: 'Error: boom\n    at f (/dags/x.ts:3:9)\n    at run (/x.js:1:1)' },
      ],
    };
    expect(failureMessage(leaves, failed, { success: 2, failed: 2, upstream_failed: 3 })).to.equal(
      'task "crash" failed: process exited with code 7. Last 2 line(s) of output: | about to fail | disk on fire; task "train[4]" failed: Error: boom; 3 task(s) upstream_failed',
    );
  });

  it('counts the failures it does not name and cuts long errors', () => {
    const message = failureMessage(
      leaves,
      { total: 7, tasks: [{ task_id: 'a', map_index: -1, error: 'e'.repeat(2000) }] },
      {},
    );
    expect(message).to.match(/^task "a" failed: e{500}…; 6 more task instance\(s\) failed$/);
  });

  it('leads with the reason when the run was stopped, marked or deadlocked', () => {
    expect(failureMessage('dagrun_timeout of 3s exceeded', { total: 0, tasks: [] }, { skipped: 2 })).to.equal(
      'dagrun_timeout of 3s exceeded',
    );
    expect(
      failureMessage(
        'the run was cancelled',
        { total: 1, tasks: [{ task_id: 'long', map_index: -1, error: 'the run was cancelled' }] },
        { failed: 1 },
      ),
    ).to.equal('the run was cancelled; task "long" failed: the run was cancelled');
    expect(failureMessage('marked failed by an operator', { total: 0, tasks: [] }, {})).to.equal(
      'marked failed by an operator',
    );
    expect(failureMessage(leaves, { total: 1, tasks: [{ task_id: 'x', map_index: -1, error: null }] }, {})).to.equal(
      'task "x" failed: no error recorded',
    );
    expect(failureMessage(null, { total: 0, tasks: [] }, {})).to.equal('the run failed');
  });
});
